//! Proxies for the editor: the ONE-decode ffmpeg run (proxy MP4 + mono PCM for the waveform on
//! stdout), the audio-only `.m4a` variant, image JPEG proxies and poster frames.
//!
//! Argument building is pure ([`video_args`], [`audio_args`], [`image_args`], [`poster_args`]) and
//! unit-tested; [`make_proxy`] runs them supervised. Invariants of a video proxy: H.264 yuv420p
//! MP4 with `moov` first, short side [`ProxySettings::short_side`] (never upscaled), even
//! dimensions, the source's displayed orientation (ffmpeg autorotates; the scale uses displayed
//! dimensions), constant frame rate at the source rate capped at [`ProxySettings::max_frame_rate`],
//! a keyframe at least every second, AAC stereo 48 kHz. PCM is consumed as it arrives: memory
//! never holds more than one read buffer of it.

mod progress;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::watch;

use crate::process::{self, StderrTail, Tools};
use crate::waveform::DEFAULT_SAMPLES_PER_PIXEL;
use crate::{MediaError, MediaInfo, MediaKind, Waveform, WaveformBuilder};
use progress::{Line, ProgressParser};

/// Fixed part of a transcode's budget (process start, muxing, faststart rewrite).
pub const TIMEOUT_BASE: Duration = Duration::from_secs(120);
/// Budget per second of media: veryfast ran ~1× realtime on 2 shared cores, so 8× leaves room
/// for a loaded machine while still killing a stuck ffmpeg.
pub const TIMEOUT_PER_MEDIA_SECOND: f64 = 8.0;
/// Budget for one still (image proxy, poster frame).
pub const STILL_TIMEOUT: Duration = Duration::from_secs(60);
/// Sample rate of the proxy's audio and of the waveform's PCM.
pub const AUDIO_SAMPLE_RATE: u32 = 48_000;
/// Bytes read from ffmpeg's stdout at a time.
const PCM_READ_BUFFER: usize = 64 * 1024;
/// Where in a video the poster frame is taken, at most (early, but past a fade-in).
const POSTER_MAX_OFFSET_SECS: f64 = 1.0;

/// Knobs of the proxies; the defaults are the ones measured in the media notes.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Target short side; smaller sources keep their size.
    pub short_side: u32,
    /// Frame rate cap of the proxy.
    pub max_frame_rate: f64,
    /// Used when the source reports no usable frame rate.
    pub fallback_frame_rate: f64,
    pub x264_preset: String,
    pub x264_crf: u8,
    /// Peak video bitrate (`-maxrate`); the VBV buffer is twice that.
    pub video_maxrate_kbps: u32,
    pub audio_bitrate_kbps: u32,
    /// ffmpeg's JPEG `-q:v` (2 best … 31 worst).
    pub jpeg_quality: u8,
    pub samples_per_pixel: u32,
    /// Fixed part of a transcode's time budget ([`TIMEOUT_BASE`]).
    pub timeout_base: Duration,
    /// Budget per second of media ([`TIMEOUT_PER_MEDIA_SECOND`]).
    pub timeout_per_media_second: f64,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            short_side: 720,
            max_frame_rate: 60.0,
            fallback_frame_rate: 30.0,
            x264_preset: "veryfast".to_owned(),
            x264_crf: 28,
            video_maxrate_kbps: 2000,
            audio_bitrate_kbps: 128,
            jpeg_quality: 3,
            samples_per_pixel: DEFAULT_SAMPLES_PER_PIXEL,
            timeout_base: TIMEOUT_BASE,
            timeout_per_media_second: TIMEOUT_PER_MEDIA_SECOND,
        }
    }
}

/// What [`make_proxy`] wrote.
#[derive(Debug)]
pub struct ProxyOutputs {
    /// `proxy.mp4`, `proxy.m4a` or `proxy.jpg` in the output directory.
    pub proxy: PathBuf,
    /// For inputs with audio.
    pub waveform: Option<Waveform>,
    /// `poster.jpg`, for videos.
    pub poster: Option<PathBuf>,
}

/// Proxy size for a picture displayed at `width`×`height`: short side `short_side` unless the
/// source is smaller (never upscaled), both sides even (x264 with yuv420p needs it), at least 2.
pub fn proxy_dimensions(width: u32, height: u32, short_side: u32) -> (u32, u32) {
    let even = |v: f64| ((v / 2.0).round() as u32 * 2).max(2);
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let short = w.min(h);
    let scale = if short > f64::from(short_side) {
        f64::from(short_side) / short
    } else {
        1.0
    };
    if scale == 1.0 {
        // Keep the size; round odd sides down so nothing is upscaled.
        let down = |v: u32| (v / 2 * 2).max(2);
        return (down(width), down(height));
    }
    (even(w * scale), even(h * scale))
}

/// The proxy's constant frame rate: the source's, capped.
pub fn proxy_frame_rate(info: &MediaInfo, settings: &ProxySettings) -> f64 {
    info.frame_rate
        .filter(|r| r.is_finite() && *r > 0.0)
        .unwrap_or(settings.fallback_frame_rate)
        .min(settings.max_frame_rate)
}

/// Frames per GOP so that keyframes are at most one second apart. `floor`, not `round`:
/// round(29.97) = 30 frames would space keyframes 1.001 s apart.
pub fn gop_frames(frame_rate: f64) -> u32 {
    (frame_rate.floor() as u32).max(1)
}

/// A budget for transcoding `duration_secs` of media: base + per-second × duration.
pub fn transcode_timeout(duration_secs: f64, settings: &ProxySettings) -> Duration {
    let per = duration_secs.max(0.0) * settings.timeout_per_media_second.max(0.0);
    settings.timeout_base + Duration::from_secs_f64(per.min(1e9))
}

fn common_head(input: &Path, with_progress: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["-nostdin", "-nostats", "-loglevel", "error", "-y"]
        .map(OsString::from)
        .to_vec();
    if with_progress {
        args.extend(["-progress", "pipe:2"].map(OsString::from));
    }
    args.extend(["-i".into(), input.into()]);
    args
}

fn push(args: &mut Vec<OsString>, items: &[&str]) {
    args.extend(items.iter().map(OsString::from));
}

fn displayed(info: &MediaInfo) -> Result<(u32, u32), MediaError> {
    match (info.width, info.height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => Err(MediaError::InvalidSettings(
            "the media info has no picture dimensions".to_owned(),
        )),
    }
}

fn aac_args(args: &mut Vec<OsString>, settings: &ProxySettings) {
    let bitrate = format!("{}k", settings.audio_bitrate_kbps);
    let rate = AUDIO_SAMPLE_RATE.to_string();
    push(
        args,
        &["-c:a", "aac", "-b:a", &bitrate, "-ac", "2", "-ar", &rate],
    );
}

fn pcm_args(args: &mut Vec<OsString>) {
    let rate = AUDIO_SAMPLE_RATE.to_string();
    push(
        args,
        &[
            "-map", "0:a:0", "-vn", "-ac", "1", "-ar", &rate, "-f", "s16le", "pipe:1",
        ],
    );
}

/// The one-decode video command: proxy MP4 (+ AAC when the source has audio) and, when
/// `waveform` is set and there is audio, mono s16le PCM on stdout.
pub fn video_args(
    info: &MediaInfo,
    input: &Path,
    output: &Path,
    settings: &ProxySettings,
    waveform: bool,
) -> Result<Vec<OsString>, MediaError> {
    let (w, h) = displayed(info)?;
    let (pw, ph) = proxy_dimensions(w, h, settings.short_side);
    let fps = proxy_frame_rate(info, settings);
    let gop = gop_frames(fps).to_string();
    let mut args = common_head(input, true);
    push(&mut args, &["-map", "0:v:0"]);
    if info.has_audio {
        push(&mut args, &["-map", "0:a:0"]);
    }
    let filter = format!("scale={pw}:{ph},setsar=1,format=yuv420p");
    let crf = settings.x264_crf.to_string();
    let maxrate = format!("{}k", settings.video_maxrate_kbps);
    let bufsize = format!("{}k", settings.video_maxrate_kbps * 2);
    let rate = format!("{fps}");
    push(
        &mut args,
        &[
            "-vf",
            &filter,
            "-c:v",
            "libx264",
            "-preset",
            &settings.x264_preset,
            "-crf",
            &crf,
            "-maxrate",
            &maxrate,
            "-bufsize",
            &bufsize,
            "-r",
            &rate,
            "-fps_mode",
            "cfr",
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
        ],
    );
    if info.has_audio {
        aac_args(&mut args, settings);
    } else {
        push(&mut args, &["-an"]);
    }
    push(&mut args, &["-movflags", "+faststart", "-f", "mp4"]);
    args.push(output.into());
    if waveform && info.has_audio {
        pcm_args(&mut args);
    }
    Ok(args)
}

/// Audio-only: AAC `.m4a` proxy plus the waveform PCM on stdout.
pub fn audio_args(input: &Path, output: &Path, settings: &ProxySettings) -> Vec<OsString> {
    let mut args = common_head(input, true);
    push(&mut args, &["-map", "0:a:0", "-vn"]);
    aac_args(&mut args, settings);
    push(&mut args, &["-movflags", "+faststart", "-f", "mp4"]);
    args.push(output.into());
    pcm_args(&mut args);
    args
}

fn still_tail(
    args: &mut Vec<OsString>,
    info: &MediaInfo,
    output: &Path,
    settings: &ProxySettings,
) -> Result<(), MediaError> {
    let (w, h) = displayed(info)?;
    let (pw, ph) = proxy_dimensions(w, h, settings.short_side);
    let filter = format!("scale={pw}:{ph},setsar=1,format=yuvj420p");
    let q = settings.jpeg_quality.to_string();
    push(
        args,
        &[
            "-map",
            "0:v:0",
            "-frames:v",
            "1",
            "-vf",
            &filter,
            "-c:v",
            "mjpeg",
            "-q:v",
            &q,
            "-f",
            "image2",
            "-update",
            "1",
        ],
    );
    args.push(output.into());
    Ok(())
}

/// A still image's JPEG proxy.
pub fn image_args(
    info: &MediaInfo,
    input: &Path,
    output: &Path,
    settings: &ProxySettings,
) -> Result<Vec<OsString>, MediaError> {
    let mut args = common_head(input, false);
    still_tail(&mut args, info, output, settings)?;
    Ok(args)
}

/// A video's poster frame: a fast input seek, one frame, proxy-sized JPEG.
pub fn poster_args(
    info: &MediaInfo,
    input: &Path,
    output: &Path,
    settings: &ProxySettings,
) -> Result<Vec<OsString>, MediaError> {
    let at = (info.duration_secs / 3.0).clamp(0.0, POSTER_MAX_OFFSET_SECS);
    let mut args: Vec<OsString> = ["-nostdin", "-nostats", "-loglevel", "error", "-y"]
        .map(OsString::from)
        .to_vec();
    push(&mut args, &["-ss", &format!("{at:.3}")]);
    args.extend(["-i".into(), input.into()]);
    still_tail(&mut args, info, output, settings)?;
    Ok(args)
}

/// Makes the proxy (and waveform, poster) for `input` into `out_dir`, reporting progress in
/// `[0, 1]` of the probed duration through `progress`. Dropping the future kills ffmpeg.
pub async fn make_proxy(
    tools: &Tools,
    input: &Path,
    info: &MediaInfo,
    out_dir: &Path,
    settings: &ProxySettings,
    progress: Option<&watch::Sender<f64>>,
) -> Result<ProxyOutputs, MediaError> {
    match info.kind {
        MediaKind::Image => {
            let proxy = out_dir.join("proxy.jpg");
            let args = image_args(info, input, &proxy, settings)?;
            run_still(tools, &args).await?;
            if let Some(tx) = progress {
                tx.send_replace(1.0);
            }
            Ok(ProxyOutputs {
                proxy,
                waveform: None,
                poster: None,
            })
        }
        MediaKind::Audio => {
            let proxy = out_dir.join("proxy.m4a");
            let args = audio_args(input, &proxy, settings);
            let builder = WaveformBuilder::new(AUDIO_SAMPLE_RATE, settings.samples_per_pixel)?;
            let waveform = run_transcode(
                tools,
                &args,
                &proxy,
                info.duration_secs,
                transcode_timeout(info.duration_secs, settings),
                Some(builder),
                progress,
            )
            .await?;
            Ok(ProxyOutputs {
                proxy,
                waveform,
                poster: None,
            })
        }
        MediaKind::Video => {
            let proxy = out_dir.join("proxy.mp4");
            let args = video_args(info, input, &proxy, settings, true)?;
            let builder = if info.has_audio {
                Some(WaveformBuilder::new(
                    AUDIO_SAMPLE_RATE,
                    settings.samples_per_pixel,
                )?)
            } else {
                None
            };
            let waveform = run_transcode(
                tools,
                &args,
                &proxy,
                info.duration_secs,
                transcode_timeout(info.duration_secs, settings),
                builder,
                progress,
            )
            .await?;
            let poster = out_dir.join("poster.jpg");
            run_still(tools, &poster_args(info, input, &poster, settings)?).await?;
            Ok(ProxyOutputs {
                proxy,
                waveform,
                poster: Some(poster),
            })
        }
    }
}

async fn run_still(tools: &Tools, args: &[OsString]) -> Result<(), MediaError> {
    let out = process::run(&tools.ffmpeg, args, STILL_TIMEOUT).await?;
    if !out.status.success() {
        return Err(process::failed(&tools.ffmpeg, out.status, &out.stderr));
    }
    Ok(())
}

/// Runs a transcode whose stderr carries `-progress` blocks and whose stdout carries PCM when
/// `builder` is given. Both pipes are drained concurrently so ffmpeg never stalls on a full pipe.
async fn run_transcode(
    tools: &Tools,
    args: &[OsString],
    output: &Path,
    duration_secs: f64,
    timeout: Duration,
    builder: Option<WaveformBuilder>,
    progress: Option<&watch::Sender<f64>>,
) -> Result<Option<Waveform>, MediaError> {
    let mut child = process::spawn(&tools.ffmpeg, args)?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");

    let read_pcm = async move {
        let mut builder = builder;
        let mut buf = vec![0u8; PCM_READ_BUFFER];
        loop {
            let n = stdout.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            if let Some(b) = builder.as_mut() {
                b.push_s16le(&buf[..n]);
            }
        }
        Ok::<_, std::io::Error>(builder.map(WaveformBuilder::finish))
    };
    let read_stderr = async move {
        let mut reader = BufReader::new(stderr);
        let mut parser = ProgressParser::default();
        let mut tail = StderrTail::default();
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).await? == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&line);
            match parser.feed(&text) {
                Line::BlockEnd {
                    out_time_us: Some(us),
                    ..
                } => {
                    if let (Some(tx), Some(f)) = (progress, progress::fraction(us, duration_secs)) {
                        tx.send_replace(f);
                    }
                }
                Line::Other => tail.push(&text),
                Line::BlockEnd { .. } | Line::Key => {}
            }
        }
        Ok::<_, std::io::Error>(tail)
    };

    let joined = async { tokio::join!(child.wait(), read_pcm, read_stderr) };
    let (status, waveform, tail) = match tokio::time::timeout(timeout, joined).await {
        Ok(results) => results,
        Err(_) => {
            // kill_on_drop would do it too; be explicit and reap before removing the output.
            let _ = child.kill().await;
            let _ = tokio::fs::remove_file(output).await;
            return Err(MediaError::Timeout {
                program: tools.ffmpeg.display().to_string(),
                timeout,
            });
        }
    };
    let status = status?;
    let tail = tail?;
    if !status.success() {
        let _ = tokio::fs::remove_file(output).await;
        return Err(MediaError::Failed {
            program: tools.ffmpeg.display().to_string(),
            status: status.to_string(),
            stderr: tail.joined(),
        });
    }
    let waveform = waveform?;
    if let Some(tx) = progress {
        tx.send_replace(1.0);
    }
    Ok(waveform)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(kind: MediaKind, w: u32, h: u32, fps: f64, has_audio: bool) -> MediaInfo {
        MediaInfo {
            kind,
            duration_secs: 3.0,
            width: Some(w),
            height: Some(h),
            rotation_degrees: 0,
            frame_rate: Some(fps),
            variable_frame_rate: false,
            video_codec: Some("h264".into()),
            audio_codec: has_audio.then(|| "aac".into()),
            audio_channels: has_audio.then_some(2),
            audio_sample_rate: has_audio.then_some(44100),
            has_audio,
            has_video: kind == MediaKind::Video,
            container: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            size_bytes: 1,
        }
    }

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn value_of<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn dimensions() {
        assert_eq!(proxy_dimensions(1920, 1080, 720), (1280, 720));
        assert_eq!(proxy_dimensions(1080, 1920, 720), (720, 1280));
        assert_eq!(proxy_dimensions(1001, 563, 720), (1000, 562));
        assert_eq!(proxy_dimensions(3840, 1634, 720), (1692, 720));
        assert_eq!(proxy_dimensions(640, 360, 720), (640, 360));
        assert_eq!(proxy_dimensions(1, 1, 720), (2, 2));
    }

    proptest::proptest! {
        #[test]
        fn dimensions_are_even_never_upscaled_short_side_capped(w in 1u32..8000, h in 1u32..8000) {
            let (pw, ph) = proxy_dimensions(w, h, 720);
            proptest::prop_assert!(pw % 2 == 0 && ph % 2 == 0);
            proptest::prop_assert!(pw.min(ph) <= 720);
            proptest::prop_assert!(pw <= w.max(2) + 1 && ph <= h.max(2) + 1);
            // Orientation is kept.
            if w > h + 2 { proptest::prop_assert!(pw >= ph); }
            if h > w + 2 { proptest::prop_assert!(ph >= pw); }
        }
    }

    #[test]
    fn frame_rate_and_gop() {
        let s = ProxySettings::default();
        assert_eq!(
            proxy_frame_rate(&info(MediaKind::Video, 1, 1, 120.0, false), &s),
            60.0
        );
        let mut none = info(MediaKind::Video, 1, 1, 25.0, false);
        none.frame_rate = None;
        assert_eq!(proxy_frame_rate(&none, &s), 30.0);
        assert_eq!(gop_frames(30.0), 30);
        assert_eq!(gop_frames(30000.0 / 1001.0), 29);
        assert_eq!(gop_frames(0.5), 1);
    }

    #[test]
    fn video_command_has_one_decode_and_both_outputs() {
        let i = info(MediaKind::Video, 1920, 1080, 25.0, true);
        let args = strings(
            &video_args(
                &i,
                Path::new("in.mov"),
                Path::new("out.mp4"),
                &ProxySettings::default(),
                true,
            )
            .unwrap(),
        );
        assert_eq!(value_of(&args, "-i"), ["in.mov"]);
        assert_eq!(
            value_of(&args, "-vf"),
            ["scale=1280:720,setsar=1,format=yuv420p"]
        );
        assert_eq!(value_of(&args, "-g"), ["25"]);
        assert_eq!(value_of(&args, "-keyint_min"), ["25"]);
        assert_eq!(value_of(&args, "-sc_threshold"), ["0"]);
        assert_eq!(value_of(&args, "-r"), ["25"]);
        assert_eq!(value_of(&args, "-fps_mode"), ["cfr"]);
        assert_eq!(value_of(&args, "-progress"), ["pipe:2"]);
        assert_eq!(value_of(&args, "-movflags"), ["+faststart"]);
        assert_eq!(value_of(&args, "-map"), ["0:v:0", "0:a:0", "0:a:0"]);
        assert_eq!(value_of(&args, "-ac"), ["2", "1"]);
        assert_eq!(value_of(&args, "-ar"), ["48000", "48000"]);
        // The proxy comes before the PCM output, which ends the command.
        let out_at = args.iter().position(|a| a == "out.mp4").unwrap();
        assert!(out_at < args.iter().position(|a| a == "s16le").unwrap());
        assert_eq!(args.last().unwrap(), "pipe:1");
    }

    #[test]
    fn video_without_audio_has_no_audio_outputs() {
        let i = info(MediaKind::Video, 720, 1280, 30.0, false);
        let args = strings(
            &video_args(
                &i,
                Path::new("a"),
                Path::new("b.mp4"),
                &ProxySettings::default(),
                true,
            )
            .unwrap(),
        );
        assert_eq!(value_of(&args, "-map"), ["0:v:0"]);
        assert!(args.contains(&"-an".to_owned()));
        assert!(!args.contains(&"pipe:1".to_owned()));
        assert_eq!(
            value_of(&args, "-vf"),
            ["scale=720:1280,setsar=1,format=yuv420p"]
        );
    }

    #[test]
    fn audio_and_still_commands() {
        let s = ProxySettings::default();
        let args = strings(&audio_args(Path::new("a.mp3"), Path::new("p.m4a"), &s));
        assert_eq!(value_of(&args, "-c:a"), ["aac"]);
        assert_eq!(args.last().unwrap(), "pipe:1");
        let img = info(MediaKind::Image, 4000, 3000, 25.0, false);
        let args = strings(&image_args(&img, Path::new("i.png"), Path::new("p.jpg"), &s).unwrap());
        assert_eq!(
            value_of(&args, "-vf"),
            ["scale=960:720,setsar=1,format=yuvj420p"]
        );
        assert_eq!(value_of(&args, "-frames:v"), ["1"]);
        let vid = info(MediaKind::Video, 1920, 1080, 25.0, true);
        let args = strings(&poster_args(&vid, Path::new("v"), Path::new("p.jpg"), &s).unwrap());
        assert_eq!(value_of(&args, "-ss"), ["1.000"]);
        assert!(args.iter().position(|a| a == "-ss") < args.iter().position(|a| a == "-i"));
    }

    #[test]
    fn timeouts_scale_with_duration() {
        let s = ProxySettings::default();
        assert_eq!(transcode_timeout(0.0, &s), TIMEOUT_BASE);
        assert_eq!(
            transcode_timeout(10.0, &s),
            TIMEOUT_BASE + Duration::from_secs(80)
        );
        assert_eq!(transcode_timeout(-1.0, &s), TIMEOUT_BASE);
    }
}
