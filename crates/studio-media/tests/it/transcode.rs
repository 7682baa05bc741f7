//! `make_proxy` on generated fixtures, every output checked with ffprobe.

use std::path::Path;

use studio_media::{MediaInfo, MediaKind, ProxySettings, Tools, make_proxy, probe};
use tokio::sync::watch;

use crate::helpers::{
    Scratch, ffprobe_json, keyframe_times, reference_waveform, stream, top_level_boxes,
};

struct Expect {
    width: i64,
    height: i64,
    fps: f64,
    audio: bool,
}

/// Probes, makes the proxy while recording progress, and checks the progress reports.
async fn run(s: &Scratch, src: &Path) -> (MediaInfo, studio_media::ProxyOutputs) {
    let tools = Tools::default();
    let info = probe(&tools, src).await.unwrap();
    let out = s.out_dir("out");
    let (tx, mut rx) = watch::channel(0.0f64);
    let seen = tokio::spawn(async move {
        let mut seen = Vec::new();
        while rx.changed().await.is_ok() {
            seen.push(*rx.borrow_and_update());
        }
        seen
    });
    let outputs = make_proxy(
        &tools,
        src,
        &info,
        &out,
        &ProxySettings::default(),
        Some(&tx),
    )
    .await
    .unwrap();
    drop(tx);
    let seen = seen.await.unwrap();
    assert_eq!(
        seen.last().copied(),
        Some(1.0),
        "progress must end at 1: {seen:?}"
    );
    assert!(seen.iter().all(|f| (0.0..=1.0).contains(f)), "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "progress went back: {seen:?}"
    );
    (info, outputs)
}

fn source_video_duration(src: &Path) -> f64 {
    let p = ffprobe_json(src, &["-show_format", "-show_streams"]);
    stream(&p, "video")
        .and_then(|v| v["duration"].as_str())
        .or_else(|| p["format"]["duration"].as_str())
        .unwrap()
        .parse()
        .unwrap()
}

fn assert_video_proxy(proxy: &Path, src: &Path, e: &Expect) {
    let p = ffprobe_json(proxy, &["-show_format", "-show_streams"]);
    assert_eq!(
        p["format"]["format_name"].as_str().unwrap(),
        "mov,mp4,m4a,3gp,3g2,mj2"
    );
    let v = stream(&p, "video").expect("a video stream");
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(v["pix_fmt"], "yuv420p");
    assert_eq!(
        (v["width"].as_i64().unwrap(), v["height"].as_i64().unwrap()),
        (e.width, e.height)
    );
    assert!(e.width % 2 == 0 && e.height % 2 == 0);
    // Upright: the orientation was applied to the pixels, no display matrix left.
    let rotation = v["side_data_list"]
        .as_array()
        .and_then(|l| l.iter().find_map(|sd| sd["rotation"].as_i64()))
        .unwrap_or(0);
    assert_eq!(rotation, 0, "proxy must not need rotation on display");

    // Constant frame rate at the expected rate.
    let rate = |k: &str| {
        let (n, d) = v[k].as_str().unwrap().split_once('/').unwrap();
        n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap()
    };
    assert!((rate("r_frame_rate") - e.fps).abs() < 0.01, "{v}");
    assert!((rate("avg_frame_rate") - e.fps).abs() < 0.05, "{v}");

    // A keyframe at least every second.
    let keys = keyframe_times(proxy);
    assert!(keys.first().is_some_and(|t| *t < 0.05), "{keys:?}");
    assert!(
        keys.windows(2).all(|w| w[1] - w[0] <= 1.0 + 1e-6),
        "{keys:?}"
    );
    let proxy_duration: f64 = v["duration"].as_str().unwrap().parse().unwrap();
    assert!(
        proxy_duration - keys.last().unwrap() <= 1.0 + 1.0 / e.fps,
        "{keys:?}"
    );

    // Duration within a frame of the source.
    let src_duration = source_video_duration(src);
    assert!(
        (proxy_duration - src_duration).abs() <= 1.0 / e.fps + 1e-3,
        "proxy {proxy_duration} vs source {src_duration}"
    );

    // moov before mdat (+faststart).
    let boxes = top_level_boxes(proxy);
    let at = |k: &str| boxes.iter().position(|b| b == k).unwrap();
    assert!(at("moov") < at("mdat"), "{boxes:?}");

    match stream(&p, "audio") {
        Some(a) => {
            assert!(e.audio, "unexpected audio");
            assert_aac_stereo_48k(a);
        }
        None => assert!(!e.audio, "missing audio"),
    }
}

fn assert_aac_stereo_48k(a: &serde_json::Value) {
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(a["channels"], 2);
    assert_eq!(a["sample_rate"], "48000");
}

fn assert_waveform_matches_source(w: &studio_media::Waveform, src: &Path) {
    assert_eq!(w.sample_rate, 48000);
    assert_eq!(w.samples_per_pixel, 256);
    let reference = reference_waveform(src, 256);
    assert_eq!(w.len(), reference.len() / 2);
    assert_eq!(
        w.data, reference,
        "waveform differs from an independent decode"
    );
    assert!(
        w.data.iter().any(|v| v.unsigned_abs() > 1000),
        "a tone must show peaks"
    );
}

fn assert_poster(poster: &Path, width: i64, height: i64) {
    let p = ffprobe_json(poster, &["-show_streams"]);
    let v = stream(&p, "video").unwrap();
    assert_eq!(v["codec_name"], "mjpeg");
    assert_eq!(
        (v["width"].as_i64().unwrap(), v["height"].as_i64().unwrap()),
        (width, height)
    );
}

#[tokio::test]
async fn landscape_1080p_with_audio() {
    let s = Scratch::new();
    let src = s.landscape_with_audio();
    let (_, out) = run(&s, &src).await;
    let e = Expect {
        width: 1280,
        height: 720,
        fps: 30.0,
        audio: true,
    };
    assert_video_proxy(&out.proxy, &src, &e);
    assert_waveform_matches_source(out.waveform.as_ref().unwrap(), &src);
    assert_poster(out.poster.as_ref().unwrap(), 1280, 720);
}

#[tokio::test]
async fn portrait_rotation_stays_portrait() {
    let s = Scratch::new();
    let src = s.portrait_rotated();
    let (info, out) = run(&s, &src).await;
    assert_ne!(info.rotation_degrees, 0);
    let e = Expect {
        width: 720,
        height: 1280,
        fps: 25.0,
        audio: true,
    };
    assert_video_proxy(&out.proxy, &src, &e);
    assert!(out.waveform.is_some());
    assert_poster(out.poster.as_ref().unwrap(), 720, 1280);
}

#[tokio::test]
async fn odd_dimensions_become_even() {
    let s = Scratch::new();
    let src = s.odd_dimensions();
    let (_, out) = run(&s, &src).await;
    // 1001×563: short side 563 < 720, so no upscale; odd sides rounded down to even.
    let e = Expect {
        width: 1000,
        height: 562,
        fps: 25.0,
        audio: false,
    };
    assert_video_proxy(&out.proxy, &src, &e);
    assert!(out.waveform.is_none());
}

#[tokio::test]
async fn small_source_is_not_upscaled() {
    let s = Scratch::new();
    let src = s.small_with_audio();
    let (_, out) = run(&s, &src).await;
    let e = Expect {
        width: 640,
        height: 360,
        fps: 24.0,
        audio: true,
    };
    assert_video_proxy(&out.proxy, &src, &e);
    assert_waveform_matches_source(out.waveform.as_ref().unwrap(), &src);
}

#[tokio::test]
async fn variable_frame_rate_becomes_constant() {
    let s = Scratch::new();
    let src = s.variable_frame_rate();
    let (info, out) = run(&s, &src).await;
    assert!(info.variable_frame_rate);
    let fps = info.frame_rate.unwrap();
    let e = Expect {
        width: 320,
        height: 240,
        fps,
        audio: false,
    };
    assert_video_proxy(&out.proxy, &src, &e);
}

#[tokio::test]
async fn video_without_audio_has_no_waveform() {
    let s = Scratch::new();
    let src = s.video_without_audio();
    let (_, out) = run(&s, &src).await;
    let e = Expect {
        width: 1280,
        height: 720,
        fps: 30.0,
        audio: false,
    };
    assert_video_proxy(&out.proxy, &src, &e);
    assert!(out.waveform.is_none());
    assert!(out.poster.is_some());
}

#[tokio::test]
async fn audio_only_gives_m4a_and_waveform() {
    let s = Scratch::new();
    for src in [s.mp3(), s.wav()] {
        let out_dir = s.path("out");
        let _ = std::fs::remove_dir_all(&out_dir);
        let (info, out) = run(&s, &src).await;
        assert_eq!(info.kind, MediaKind::Audio);
        assert_eq!(out.proxy.extension().unwrap(), "m4a");
        let p = ffprobe_json(&out.proxy, &["-show_format", "-show_streams"]);
        assert!(stream(&p, "video").is_none());
        assert_aac_stereo_48k(stream(&p, "audio").unwrap());
        let boxes = top_level_boxes(&out.proxy);
        let at = |k: &str| boxes.iter().position(|b| b == k).unwrap();
        assert!(at("moov") < at("mdat"), "{boxes:?}");
        let proxy_duration: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!((proxy_duration - info.duration_secs).abs() < 0.1);
        assert_waveform_matches_source(out.waveform.as_ref().unwrap(), &src);
        assert!(out.poster.is_none());
    }
}

#[tokio::test]
async fn still_images_get_a_jpeg_proxy() {
    let s = Scratch::new();
    for (src, w, h) in [(s.png(), 960, 720), (s.jpeg(), 400, 300)] {
        let (_, out) = run(&s, &src).await;
        assert_eq!(out.proxy.extension().unwrap(), "jpg");
        assert!(out.waveform.is_none() && out.poster.is_none());
        assert_poster(&out.proxy, w, h);
    }
}

#[tokio::test]
async fn a_failing_transcode_reports_ffmpeg_stderr() {
    let s = Scratch::new();
    let src = s.landscape_with_audio();
    let tools = Tools::default();
    let info = probe(&tools, &src).await.unwrap();
    // Replace the input after probing: ffmpeg then fails on it.
    let other = s.text_named_mp4();
    let out = s.out_dir("out");
    let err = make_proxy(&tools, &other, &info, &out, &ProxySettings::default(), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "media_tool_failed", "{err}");
    assert!(err.to_string().contains("Invalid data"), "{err}");
    assert!(!out.join("proxy.mp4").exists());
}

#[tokio::test]
async fn a_transcode_over_its_budget_is_killed() {
    let s = Scratch::new();
    let src = s.landscape_with_audio();
    let tools = Tools::default();
    let info = probe(&tools, &src).await.unwrap();
    let out = s.out_dir("out");
    let settings = ProxySettings {
        timeout_base: std::time::Duration::from_millis(1),
        timeout_per_media_second: 0.0,
        ..ProxySettings::default()
    };
    let started = std::time::Instant::now();
    let err = make_proxy(&tools, &src, &info, &out, &settings, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "media_timeout", "{err}");
    assert!(!err.is_permanent());
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        !out.join("proxy.mp4").exists(),
        "a killed transcode leaves no proxy"
    );
}
