//! The waveform files, as the real `waveform-data` npm package reads them.

use std::path::{Path, PathBuf};
use std::process::Command;

use studio_media::{ProxySettings, Tools, Waveform, WaveformBits, make_proxy, probe};

use crate::helpers::Scratch;

fn checker_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/waveform")
}

fn check_with_node(s: &Scratch, w: &Waveform, bits: WaveformBits, tag: &str) -> serde_json::Value {
    let dir = checker_dir();
    assert!(
        dir.join("node_modules/waveform-data").is_dir(),
        "the waveform-data npm package is missing: run `make deps` (or `cd tests/waveform && npm ci`)"
    );
    let json = s.path(&format!("{tag}.json"));
    let dat = s.path(&format!("{tag}.dat"));
    let expected = s.path(&format!("{tag}.expected.json"));
    std::fs::write(&json, w.to_json(bits)).unwrap();
    std::fs::write(&dat, w.to_dat(bits)).unwrap();
    let values = w.values(bits);
    let mins: Vec<i16> = values.iter().step_by(2).copied().collect();
    let maxs: Vec<i16> = values.iter().skip(1).step_by(2).copied().collect();
    let exp = serde_json::json!({
        "sample_rate": w.sample_rate, "samples_per_pixel": w.samples_per_pixel,
        "bits": bits.as_u32(), "length": w.len(), "min": mins, "max": maxs,
    });
    std::fs::write(&expected, exp.to_string()).unwrap();
    let out = Command::new("node")
        .arg(dir.join("check.mjs"))
        .args([&json, &dat, &expected])
        .output()
        .expect("node is required by this test (scripts/install-deps.sh test installs it)");
    assert!(
        out.status.success(),
        "waveform-data rejected the {tag} waveform:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for source in ["json", "dat"] {
        assert_eq!(summary[source]["length"], w.len());
        assert_eq!(summary[source]["sample_rate"], w.sample_rate);
        assert_eq!(summary[source]["bits"], bits.as_u32());
        assert_eq!(summary[source]["min"], *mins.iter().min().unwrap());
        assert_eq!(summary[source]["max"], *maxs.iter().max().unwrap());
    }
    summary
}

#[tokio::test]
async fn waveform_data_reads_our_json_and_dat() {
    let s = Scratch::new();
    let src = s.mp3();
    let tools = Tools::default();
    let info = probe(&tools, &src).await.unwrap();
    let out = make_proxy(
        &tools,
        &src,
        &info,
        &s.out_dir("out"),
        &ProxySettings::default(),
        None,
    )
    .await
    .unwrap();
    let w = out.waveform.unwrap();
    // 3 s at 48 kHz in blocks of 256 (the MP3 decoder adds a little padding).
    assert!(w.len() >= 3 * 48000 / 256, "{}", w.len());
    let eight = check_with_node(&s, &w, WaveformBits::Eight, "eight");
    assert!(eight["json"]["max"].as_i64().unwrap() > 10, "{eight}");
    let sixteen = check_with_node(&s, &w, WaveformBits::Sixteen, "sixteen");
    assert!(sixteen["dat"]["max"].as_i64().unwrap() > 1000, "{sixteen}");
    // And the PNG rendering of it decodes at the default size.
    let png = w
        .to_png(
            studio_media::waveform::DEFAULT_PNG_WIDTH,
            studio_media::waveform::DEFAULT_PNG_HEIGHT,
        )
        .unwrap();
    assert_eq!(&png[1..4], b"PNG");
}
