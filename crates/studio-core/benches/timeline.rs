//! Timeline validation benchmark: how long `timeline::parse_and_validate` takes on documents of
//! 100, 1,000 and 10,000 clips, and where the time goes. `harness = false`, so this is a plain
//! program; `scripts/bench-timeline.sh` runs it in release mode.
//!
//! ```sh
//! cargo bench -p studio-core --bench timeline -- --sizes 100,1000,10000 --seconds 3
//! ```
//!
//! The document: 10 tracks (4 video, 3 audio, 3 text) with the clips spread evenly, laid left to
//! right with small gaps, with the fields an editor writes: asset ids from a 60-asset catalog,
//! frame-aligned times at 30 fps (full-precision floats like `3.3666666666666667`, as a
//! JavaScript client sends them), source offsets, speeds, volumes, fades, names; text clips with
//! a caption and a style; and 100 markers. Every document is valid, so every rule runs in full.
//!
//! What it measures, each repeated for `--seconds` (at least [`MIN_ITERATIONS`] times) and
//! reported as the median (with the 10th and 90th percentiles):
//! - `total`: `parse_and_validate` from bytes, what a `PUT` of the timeline costs;
//! - its four steps: JSON parse (bytes → `serde_json::Value`), shape check (the value against
//!   the published JSON Schema), typed deserialize (`Value` → `Project`, consuming the value),
//!   rules (`timeline::validate`), run in that order in each iteration and timed one by one, so
//!   they add up to about the total. The shape check is crate-private, so it runs here on a
//!   validator built as the crate builds it (same schema, same draft, `iter_errors`);
//! - two alternatives, for comparison: `is_valid` (the same schema without collecting errors)
//!   and `Project` straight from bytes (no `Value`);
//! - peak memory: a child process (this program again, `--memory <file>`) reads the document,
//!   notes its peak resident set, runs `parse_and_validate` once, and reports the growth.
//!
//! It prints one table in `BENCHMARKS.md`'s format.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use studio_core::AssetKind;
use studio_core::timeline::{
    self, AssetFacts, Clip, Marker, Project, TextAlign, TextStyle, TimelineLimits, Track, TrackKind,
};

/// Tracks of the benchmark document, by kind, bottom to top.
const TRACK_KINDS: [TrackKind; 10] = [
    TrackKind::Video,
    TrackKind::Video,
    TrackKind::Video,
    TrackKind::Video,
    TrackKind::Audio,
    TrackKind::Audio,
    TrackKind::Audio,
    TrackKind::Text,
    TrackKind::Text,
    TrackKind::Text,
];
const MARKERS: usize = 100;
/// Assets of each media kind in the catalog.
const ASSETS_PER_KIND: usize = 20;
/// Every probed asset is 10 minutes long: long enough for any clip of the document.
const ASSET_SECS: f64 = 600.0;
const FPS: f64 = 30.0;
/// A median of fewer samples than this says little.
const MIN_ITERATIONS: usize = 30;
const DEFAULT_SIZES: [usize; 3] = [100, 1_000, 10_000];
const DEFAULT_SECONDS: f64 = 3.0;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(path) = value_of(&args, "--memory") {
        measure_memory_child(Path::new(&path));
        return;
    }
    let sizes: Vec<usize> = value_of(&args, "--sizes").map_or(DEFAULT_SIZES.to_vec(), |list| {
        list.split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("--sizes takes numbers, e.g. 100,1000")
            })
            .collect()
    });
    let seconds: f64 = value_of(&args, "--seconds").map_or(DEFAULT_SECONDS, |s| {
        s.parse().expect("--seconds takes a number")
    });
    let budget = Duration::from_secs_f64(seconds);

    let catalog = catalog();
    let limits = TimelineLimits::default();
    let validator = jsonschema::draft202012::options()
        .build(timeline::json_schema())
        .expect("the published schema compiles");

    let mut rows = Vec::new();
    for &clips in &sizes {
        let project = document(clips);
        let bytes = serde_json::to_vec(&project).expect("a project serializes");
        assert!(
            timeline::parse_and_validate(&bytes, &limits, &catalog).is_ok(),
            "the benchmark document is valid"
        );
        eprintln!("{clips} clips, {} bytes…", bytes.len());
        let value: Value = serde_json::from_slice(&bytes).expect("JSON");

        let total = time(budget, || {
            timeline::parse_and_validate(black_box(&bytes), &limits, &catalog)
        });
        // The four steps as `parse_and_validate` runs them, one after the other on the same
        // input in each iteration (the value moves into the typed step, as it does there).
        let [json, shape, typed, rules] = time_stages(budget, || {
            let t0 = Instant::now();
            let value: Value = serde_json::from_slice(black_box(&bytes)).expect("JSON");
            let t1 = Instant::now();
            let errors = validator.iter_errors(&value).count();
            let t2 = Instant::now();
            let project: Project = serde_json::from_value(value).expect("a project");
            let t3 = Instant::now();
            let violations = timeline::validate(&project, &limits, &catalog);
            let t4 = Instant::now();
            assert_eq!(errors + violations.len(), 0, "the document is valid");
            ([t1 - t0, t2 - t1, t3 - t2, t4 - t3], project)
        });
        let is_valid = time(budget, || validator.is_valid(black_box(&value)));
        let direct = time(budget, || {
            serde_json::from_slice::<Project>(black_box(&bytes))
        });
        let memory = measure_memory(&bytes);
        rows.push(Row {
            clips,
            bytes: bytes.len(),
            total,
            json,
            shape,
            typed,
            rules,
            is_valid,
            direct,
            memory,
        });
    }
    print_table(&rows);
}

/// The value after `flag` in `args` (`--flag value`).
fn value_of(args: &[String], flag: &str) -> Option<String> {
    let at = args.iter().position(|a| a == flag)?;
    args.get(at + 1).cloned()
}

// ---------------------------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------------------------

fn asset_id(kind: char, n: usize) -> String {
    format!("ast_{kind}{n:025}")
}

/// 20 videos (with sound), 20 audio assets and 20 images, all of this project.
fn catalog() -> HashMap<String, AssetFacts> {
    let mut catalog = HashMap::new();
    for n in 0..ASSETS_PER_KIND {
        catalog.insert(
            asset_id('v', n),
            AssetFacts {
                kind: AssetKind::Video,
                duration_secs: Some(ASSET_SECS),
                has_audio: Some(true),
            },
        );
        catalog.insert(
            asset_id('a', n),
            AssetFacts {
                kind: AssetKind::Audio,
                duration_secs: Some(ASSET_SECS),
                has_audio: Some(true),
            },
        );
        catalog.insert(
            asset_id('e', n),
            AssetFacts {
                kind: AssetKind::Image,
                duration_secs: None,
                has_audio: Some(false),
            },
        );
    }
    catalog
}

/// A valid project of `clips` clips over 10 tracks (see the module docs).
fn document(clips: usize) -> Project {
    let per_track = clips / TRACK_KINDS.len();
    let mut serial = 0;
    let tracks = TRACK_KINDS
        .iter()
        .enumerate()
        .map(|(t, &kind)| {
            let count = per_track + usize::from(t < clips % TRACK_KINDS.len());
            let mut cursor = 0.0;
            let clips = (0..count)
                .map(|c| {
                    serial += 1;
                    let clip = clip(kind, serial, c, cursor);
                    // A gap of 0 to 14 frames after each clip.
                    cursor = clip.end() + (serial % 15) as f64 / FPS;
                    clip
                })
                .collect();
            Track {
                id: format!("track-{t}"),
                kind,
                name: format!("{} {}", kind.as_str(), t + 1),
                muted: false,
                locked: t == 0,
                clips,
            }
        })
        .collect();
    let markers = (0..MARKERS)
        .map(|m| Marker {
            id: format!("marker-{m}"),
            time: (m * 61) as f64 / FPS,
            label: Some(format!("Beat {m}")),
            color: m.is_multiple_of(3).then(|| "#ff3366".to_owned()),
        })
        .collect();
    Project {
        schema_version: timeline::SCHEMA_VERSION,
        name: "Benchmark — feature documentary".to_owned(),
        fps: FPS,
        width: 1920,
        height: 1080,
        sample_rate: 48_000,
        tracks,
        markers,
    }
}

/// Clip number `c` of its track (`serial` across the document), starting at `start`: 1 to 7 s,
/// frame-aligned.
fn clip(kind: TrackKind, serial: usize, c: usize, start: f64) -> Clip {
    let frames = 30 + (serial * 37) % 180;
    let duration = frames as f64 / FPS;
    let mut clip = Clip {
        id: format!("clip-{serial}"),
        asset_id: None,
        start,
        duration,
        source_start: None,
        speed: None,
        volume: None,
        fade_in: c.is_multiple_of(4).then_some(10.0 / FPS),
        fade_out: c.is_multiple_of(5).then_some(15.0 / FPS),
        name: Some(format!("Shot {serial:05}")),
        text: None,
        style: None,
    };
    match kind {
        TrackKind::Video => {
            let image = serial.is_multiple_of(10);
            clip.asset_id = Some(asset_id(
                if image { 'e' } else { 'v' },
                serial % ASSETS_PER_KIND,
            ));
            if !image {
                clip.source_start = Some((serial % 300) as f64 / FPS * 7.0);
                clip.speed = serial.is_multiple_of(6).then_some(1.5);
                clip.volume = serial.is_multiple_of(3).then_some(0.8);
            }
        }
        TrackKind::Audio => {
            clip.asset_id = Some(asset_id('a', serial % ASSETS_PER_KIND));
            clip.source_start = Some((serial % 500) as f64 / FPS * 11.0);
            clip.volume = Some(0.25 + (serial % 12) as f64 / 8.0);
        }
        TrackKind::Text => {
            clip.text = Some(format!(
                "Caption {serial}: and this is where the story really begins."
            ));
            clip.style = Some(TextStyle {
                font_family: Some("Inter".to_owned()),
                font_size: Some(48.0),
                color: Some("#ffffff".to_owned()),
                background_color: serial.is_multiple_of(2).then(|| "#00000099".to_owned()),
                bold: Some(serial.is_multiple_of(7)),
                italic: None,
                align: Some(TextAlign::Center),
                x: Some(0.5),
                y: Some(0.9),
            });
        }
    }
    clip
}

// ---------------------------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------------------------

/// Median and spread of one measured step, in seconds.
#[derive(Debug, Clone, Copy)]
struct Timing {
    median: f64,
    p10: f64,
    p90: f64,
    iterations: usize,
}

/// Runs `run` for about `budget` (at least [`MIN_ITERATIONS`] times, after one warm-up run).
fn time<T>(budget: Duration, mut run: impl FnMut() -> T) -> Timing {
    time_with_input(budget, || (), |()| run())
}

/// Like [`time`], with a fresh input from `prepare` for each run, made outside the clock.
fn time_with_input<I, T>(
    budget: Duration,
    mut prepare: impl FnMut() -> I,
    mut run: impl FnMut(I) -> T,
) -> Timing {
    black_box(run(prepare()));
    let mut samples = Vec::new();
    let started = Instant::now();
    while samples.len() < MIN_ITERATIONS || started.elapsed() < budget {
        let input = prepare();
        let at = Instant::now();
        let output = run(input);
        samples.push(at.elapsed().as_secs_f64());
        // Dropped outside the clock: freeing a large result is not the step's work.
        drop(black_box(output));
    }
    summarize(samples)
}

fn summarize(mut samples: Vec<f64>) -> Timing {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Timing {
        median: at(0.5),
        p10: at(0.1),
        p90: at(0.9),
        iterations: samples.len(),
    }
}

/// Like [`time`] for a run made of four steps that time themselves: the timing of each.
fn time_stages<T>(budget: Duration, mut run: impl FnMut() -> ([Duration; 4], T)) -> [Timing; 4] {
    black_box(run());
    let mut samples: [Vec<f64>; 4] = Default::default();
    let started = Instant::now();
    while samples[0].len() < MIN_ITERATIONS || started.elapsed() < budget {
        let (stages, output) = run();
        for (stage, took) in samples.iter_mut().zip(stages) {
            stage.push(took.as_secs_f64());
        }
        drop(black_box(output));
    }
    samples.map(summarize)
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

/// Growth of the peak resident set of a fresh process while it runs `parse_and_validate` once on
/// `bytes`, in bytes; `None` where `/proc` does not tell.
fn measure_memory(bytes: &[u8]) -> Option<u64> {
    let path =
        std::env::temp_dir().join(format!("studio-bench-timeline-{}.json", std::process::id()));
    std::fs::write(&path, bytes).ok()?;
    let output = Command::new(std::env::current_exe().ok()?)
        .arg("--memory")
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    let output = output.ok()?;
    String::from_utf8(output.stdout).ok()?.trim().parse().ok()
}

/// The child's side of [`measure_memory`]: prints the growth in bytes.
fn measure_memory_child(path: &Path) {
    let catalog = catalog();
    let limits = TimelineLimits::default();
    // Build the schema validator first: it is made once per process, not per document.
    let empty = serde_json::to_vec(&Project::empty("warm-up")).expect("serializes");
    assert!(timeline::parse_and_validate(&empty, &limits, &catalog).is_ok());
    let bytes = std::fs::read(path).expect("the document");
    let Some(before) = peak_rss_bytes() else {
        return;
    };
    let project = timeline::parse_and_validate(&bytes, &limits, &catalog);
    let Some(after) = peak_rss_bytes() else {
        return;
    };
    black_box(project.is_ok());
    println!("{}", after.saturating_sub(before));
}

/// `VmHWM` of this process.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

struct Row {
    clips: usize,
    bytes: usize,
    total: Timing,
    json: Timing,
    shape: Timing,
    typed: Timing,
    rules: Timing,
    is_valid: Timing,
    direct: Timing,
    memory: Option<u64>,
}

fn ms(seconds: f64) -> String {
    let ms = seconds * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "| clips | document | parse_and_validate (p10–p90) | JSON parse | shape check | typed \
         deserialize | rules | peak RSS growth |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in rows {
        let share = |t: &Timing| {
            format!(
                "{} ({:.0} %)",
                ms(t.median),
                100.0 * t.median / row.total.median
            )
        };
        let memory = row.memory.map_or("n/a".to_owned(), |b| {
            format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
        });
        println!(
            "| {} | {:.2} MiB | **{}** ({}–{}) | {} | {} | {} | {} | {} |",
            thousands(row.clips),
            row.bytes as f64 / (1024.0 * 1024.0),
            ms(row.total.median),
            ms(row.total.p10),
            ms(row.total.p90),
            share(&row.json),
            share(&row.shape),
            share(&row.typed),
            share(&row.rules),
            memory,
        );
    }
    println!();
    println!(
        "| clips | shape check, `iter_errors` | same schema, `is_valid` | bytes → `Project` \
         directly | iterations of `parse_and_validate` |"
    );
    println!("|---|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            thousands(row.clips),
            ms(row.shape.median),
            ms(row.is_valid.median),
            ms(row.direct.median),
            row.total.iterations,
        );
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}
