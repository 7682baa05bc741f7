//! Fixture generation and ffprobe-based assertions.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

pub const FFMPEG_MISSING: &str = "ffmpeg/ffprobe are required by the studio-media tests and were not found on PATH: \
     install them (`scripts/install-deps.sh test` or `apt-get install ffmpeg`)";

pub fn require_ffmpeg() {
    for program in ["ffmpeg", "ffprobe"] {
        let ok = Command::new(program)
            .arg("-version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(ok, "{FFMPEG_MISSING}");
    }
}

/// A temp dir for one test's fixtures and outputs (removed on drop).
pub struct Scratch {
    pub dir: TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        require_ffmpeg();
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs ffmpeg with `args`, writing `name` in the scratch dir; returns its path.
    pub fn ffmpeg(&self, name: &str, args: &[&str]) -> PathBuf {
        let out = self.path(name);
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-nostdin", "-loglevel", "error", "-y"])
            .args(args)
            .arg(&out);
        run_ok(cmd);
        out
    }

    pub fn out_dir(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    // ---- fixtures -------------------------------------------------------------------------

    pub fn landscape_with_audio(&self) -> PathBuf {
        self.ffmpeg(
            "landscape.mp4",
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=1920x1080:rate=30:duration=2",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=44100:duration=2",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-shortest",
            ],
        )
    }

    /// 1280×720 coded, rotation metadata → displayed 720×1280. ffmpeg 5.1 has no
    /// `-display_rotation`, and writes the `rotate` tag as a display matrix only on stream copy.
    pub fn portrait_rotated(&self) -> PathBuf {
        let coded = self.ffmpeg(
            "coded.mp4",
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=1280x720:rate=25:duration=2",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=300:sample_rate=48000:duration=2",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-shortest",
            ],
        );
        let coded = coded.to_str().unwrap().to_owned();
        self.ffmpeg(
            "portrait.mp4",
            &["-i", &coded, "-c", "copy", "-metadata:s:v", "rotate=90"],
        )
    }

    /// 1001×563: odd sides (yuv444p lets x264 encode them).
    pub fn odd_dimensions(&self) -> PathBuf {
        self.ffmpeg(
            "odd.mp4",
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=1001x563:rate=25:duration=1",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv444p",
            ],
        )
    }

    /// 640×360 with audio: smaller than 720p, must not be upscaled.
    pub fn small_with_audio(&self) -> PathBuf {
        self.ffmpeg(
            "small.mkv",
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=640x360:rate=24:duration=2",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=880:sample_rate=22050:duration=2",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "libopus",
                "-shortest",
            ],
        )
    }

    /// 1 s at 30 fps then 1 s at 10 fps, muxed with variable timestamps.
    pub fn variable_frame_rate(&self) -> PathBuf {
        self.ffmpeg(
            "vfr.mp4",
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=30:duration=1",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=10:duration=1",
                "-filter_complex",
                "[0:v][1:v]concat=n=2:v=1:a=0",
                "-fps_mode",
                "vfr",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ],
        )
    }

    pub fn video_without_audio(&self) -> PathBuf {
        self.ffmpeg(
            "silent.mp4",
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=1280x720:rate=30:duration=2",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ],
        )
    }

    pub fn mp3(&self) -> PathBuf {
        self.ffmpeg(
            "audio.mp3",
            &[
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=44100:duration=3",
                "-c:a",
                "libmp3lame",
                "-b:a",
                "128k",
            ],
        )
    }

    /// Stereo WAV with a different tone per channel (checks the mono downmix).
    pub fn wav(&self) -> PathBuf {
        self.ffmpeg(
            "audio.wav",
            &[
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=220:sample_rate=48000:duration=2",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=1000:sample_rate=48000:duration=2",
                "-filter_complex",
                "[0:a][1:a]amerge=inputs=2",
                "-c:a",
                "pcm_s16le",
            ],
        )
    }

    pub fn png(&self) -> PathBuf {
        self.ffmpeg(
            "still.png",
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=1600x1200",
                "-frames:v",
                "1",
            ],
        )
    }

    pub fn jpeg(&self) -> PathBuf {
        self.ffmpeg(
            "still.jpg",
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=400x300",
                "-frames:v",
                "1",
            ],
        )
    }

    /// The landscape MP4 cut in half: its `moov` (written last without faststart) is gone.
    pub fn truncated_mp4(&self) -> PathBuf {
        let full = std::fs::read(self.landscape_with_audio()).unwrap();
        let p = self.path("truncated.mp4");
        std::fs::write(&p, &full[..full.len() / 2]).unwrap();
        p
    }

    pub fn text_named_mp4(&self) -> PathBuf {
        let p = self.path("notes.mp4");
        std::fs::write(&p, "this is not a video, just some text\n".repeat(50)).unwrap();
        p
    }
}

pub fn run_ok(mut cmd: Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{FFMPEG_MISSING} ({e})"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn ffprobe_json(path: &Path, extra: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error", "-print_format", "json"])
        .args(extra)
        .arg(path);
    serde_json::from_slice(&run_ok(cmd)).unwrap()
}

/// Presentation times of the video keyframes.
pub fn keyframe_times(path: &Path) -> Vec<f64> {
    let v = ffprobe_json(
        path,
        &[
            "-select_streams",
            "v",
            "-skip_frame",
            "nokey",
            "-show_entries",
            "frame=pts_time",
        ],
    );
    v["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["pts_time"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Top-level ISO-BMFF box types in file order.
pub fn top_level_boxes(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let mut at = 0usize;
    let mut boxes = Vec::new();
    while at + 8 <= bytes.len() {
        let size32 = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as u64;
        let kind = String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned();
        let size = match size32 {
            0 => (bytes.len() - at) as u64,
            1 => u64::from_be_bytes(bytes[at + 8..at + 16].try_into().unwrap()),
            n => n,
        };
        assert!(size >= 8, "bad box size {size} for {kind}");
        boxes.push(kind);
        at += size as usize;
    }
    boxes
}

pub fn stream<'a>(probe: &'a serde_json::Value, kind: &str) -> Option<&'a serde_json::Value> {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == kind)
}

/// Independent reference: decode the source's audio to 48 kHz mono s16le with a separate ffmpeg
/// run, then min/max per block.
pub fn reference_waveform(source: &Path, samples_per_pixel: usize) -> Vec<i16> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-loglevel", "error", "-i"])
        .arg(source)
        .args([
            "-map", "0:a:0", "-vn", "-ac", "1", "-ar", "48000", "-f", "s16le", "pipe:1",
        ]);
    let pcm = run_ok(cmd);
    let samples: Vec<i16> = pcm
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    samples
        .chunks(samples_per_pixel)
        .flat_map(|c| [*c.iter().min().unwrap(), *c.iter().max().unwrap()])
        .collect()
}
