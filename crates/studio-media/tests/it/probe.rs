//! `probe` on generated fixtures.

use studio_media::{MediaKind, Tools, probe};

use crate::helpers::Scratch;

#[tokio::test]
async fn landscape_video_with_audio() {
    let s = Scratch::new();
    let src = s.landscape_with_audio();
    let info = probe(&Tools::default(), &src).await.unwrap();
    assert_eq!(info.kind, MediaKind::Video);
    assert_eq!((info.width, info.height), (Some(1920), Some(1080)));
    assert_eq!(info.rotation_degrees, 0);
    assert_eq!(info.frame_rate, Some(30.0));
    assert!(!info.variable_frame_rate);
    assert_eq!(info.video_codec.as_deref(), Some("h264"));
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    assert_eq!(info.audio_sample_rate, Some(44100));
    assert_eq!(info.audio_channels, Some(1));
    assert!(info.has_audio && info.has_video);
    assert!(
        (info.duration_secs - 2.0).abs() < 0.1,
        "{}",
        info.duration_secs
    );
    assert!(info.container.contains("mp4"));
    assert_eq!(info.size_bytes, std::fs::metadata(&src).unwrap().len());
}

#[tokio::test]
async fn rotation_metadata_gives_displayed_portrait_dimensions() {
    let s = Scratch::new();
    let info = probe(&Tools::default(), &s.portrait_rotated())
        .await
        .unwrap();
    assert_eq!((info.width, info.height), (Some(720), Some(1280)));
    assert!(
        info.rotation_degrees == 90 || info.rotation_degrees == 270,
        "{}",
        info.rotation_degrees
    );
}

#[tokio::test]
async fn variable_frame_rate_is_detected() {
    let s = Scratch::new();
    let info = probe(&Tools::default(), &s.variable_frame_rate())
        .await
        .unwrap();
    assert!(info.variable_frame_rate, "{info:?}");
    let fps = info.frame_rate.unwrap();
    assert!(fps > 10.0 && fps < 30.0, "{fps}");
    let cfr = probe(&Tools::default(), &s.video_without_audio())
        .await
        .unwrap();
    assert!(!cfr.variable_frame_rate, "{cfr:?}");
    assert!(!cfr.has_audio);
}

#[tokio::test]
async fn audio_files() {
    let s = Scratch::new();
    let mp3 = probe(&Tools::default(), &s.mp3()).await.unwrap();
    assert_eq!(mp3.kind, MediaKind::Audio);
    assert_eq!(mp3.audio_codec.as_deref(), Some("mp3"));
    assert!(!mp3.has_video && mp3.width.is_none());
    assert!((mp3.duration_secs - 3.0).abs() < 0.1);
    let wav = probe(&Tools::default(), &s.wav()).await.unwrap();
    assert_eq!(wav.kind, MediaKind::Audio);
    assert_eq!(wav.audio_channels, Some(2));
    assert_eq!(wav.audio_sample_rate, Some(48000));
}

#[tokio::test]
async fn still_images() {
    let s = Scratch::new();
    for (path, w, h) in [(s.png(), 1600, 1200), (s.jpeg(), 400, 300)] {
        let info = probe(&Tools::default(), &path).await.unwrap();
        assert_eq!(info.kind, MediaKind::Image, "{info:?}");
        assert_eq!((info.width, info.height), (Some(w), Some(h)));
        assert!(!info.has_audio && !info.has_video);
        assert_eq!(info.duration_secs, 0.0);
    }
}

#[tokio::test]
async fn text_and_truncated_files_are_not_media() {
    let s = Scratch::new();
    for path in [s.text_named_mp4(), s.truncated_mp4()] {
        let err = probe(&Tools::default(), &path).await.unwrap_err();
        assert_eq!(err.code(), "not_media", "{err}");
        assert!(err.is_permanent());
        assert!(
            err.to_string().contains("Invalid data") || err.to_string().contains("moov"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn missing_ffprobe_is_a_clear_error() {
    let s = Scratch::new();
    let tools = Tools {
        ffprobe: "/nonexistent/ffprobe".into(),
        ..Tools::default()
    };
    let err = probe(&tools, &s.jpeg()).await.unwrap_err();
    assert_eq!(err.code(), "media_tool_missing");
}
