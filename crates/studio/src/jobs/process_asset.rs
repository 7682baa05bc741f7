//! `process_asset`: turns an uploaded original into what the editor plays — a proxy, a waveform
//! (audiowaveform JSON, `.dat` and a PNG), a poster — and the probed metadata, then marks the
//! asset `ready` with all of it in one step.
//!
//! Idempotent: outputs go to keys derived from the asset id (`derived/{projectId}/{assetId}/…`),
//! so a re-run after a crash overwrites the same objects, and `finish_processing` is one UPDATE
//! that a second call repeats without a second transition. The original is streamed to a file
//! in a per-job temp dir (never into memory); the job refuses to start when that disk lacks
//! about [`SPACE_FACTOR`] times the original's size.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use studio_core::timeline::TimelineLimits;
use studio_core::{AssetId, AssetStatus};
use studio_db::{AssetOutputs, AssetRecord, Store};
use studio_media::{MediaError, MediaInfo, ProxySettings, Tools, WaveformBits};
use studio_queue::{Job, JobContext, JobError};
use studio_storage::{BlobKey, BlobStore};
use tokio::sync::watch;

/// Free temp space a job needs, as a multiple of the original's size: the original, the proxy
/// and the waveform files, with room to spare.
const SPACE_FACTOR: u64 = 3;
/// Progress (percent) at the end of each stage: downloading, probing, transcoding, then
/// uploading up to 100.
const DOWNLOADED: f64 = 10.0;
const PROBED: f64 = 15.0;
const TRANSCODED: f64 = 90.0;
/// Transcoding progress is written at most once per this many percent (each write is a database
/// UPDATE).
const PROGRESS_STEP: f64 = 1.0;

/// What every `process_asset` job shares.
pub struct MediaJobEnv {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn BlobStore>,
    /// This worker process's scratch directory (see [`crate::jobs`]).
    pub scratch: PathBuf,
    pub tools: Tools,
    pub settings: ProxySettings,
    /// The bounds timelines are re-checked against once an asset is ready.
    pub timeline_limits: TimelineLimits,
    /// The running jobs' directories, which the sweeper leaves alone.
    pub held: crate::sweeper::HeldDirs,
}

/// The payload `confirm_upload` records: `{"assetId": …}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessAsset {
    pub asset_id: AssetId,
}

#[async_trait]
impl Job for ProcessAsset {
    const KIND: &'static str = "process_asset";
    type Env = MediaJobEnv;

    async fn run(&self, env: &MediaJobEnv, ctx: JobContext) -> Result<serde_json::Value, JobError> {
        let asset = env
            .store
            .asset(&self.asset_id)
            .await
            .map_err(transient)?
            .ok_or_else(|| JobError::permanent("asset_not_found", "the asset was deleted"))?;
        if matches!(
            asset.status,
            AssetStatus::PendingUpload | AssetStatus::Expired
        ) {
            return Err(JobError::permanent(
                "asset_not_uploaded",
                "the asset has no confirmed upload",
            ));
        }
        env.store
            .start_processing(&asset.id)
            .await
            .map_err(transient)?;
        tracing::info!(asset.id = %asset.id, "processing asset");
        match process(env, &ctx, &asset).await {
            Ok(ready) => {
                tracing::info!(asset.id = %asset.id, "asset ready");
                recheck_timeline(env, &ready).await;
                Ok(serde_json::json!({
                    "assetId": ready.id,
                    "proxyKey": ready.outputs.proxy_key,
                }))
            }
            Err(err) => {
                let last = matches!(err, JobError::Permanent { .. }) || ctx.is_last_attempt();
                // A stopped job did not fail: its token fires on shutdown (the job is handed
                // back and runs again), on a lost lease (another worker owns it now) and on a
                // cancellation request. The asset is left as it is; a reprocess starts over.
                if last && !ctx.is_cancelled() {
                    // The job's own error is recorded by the runtime; the asset's is what the
                    // editor shows. A failure to write it leaves the asset `processing`, which a
                    // reprocess repairs.
                    if let Err(db) = env
                        .store
                        .fail_processing(&asset.id, err.code(), err.message())
                        .await
                    {
                        tracing::error!(error = %db, "cannot mark the asset failed");
                    }
                }
                Err(err)
            }
        }
    }
}

/// Now that the asset's duration is known, validates the project's timeline again: a clip placed
/// on it before it was probed may pass its end, and the editor learns that from the timeline's
/// problems (stored, or cleared when there are none; a warning is logged when there are some).
/// A failure here is logged, not the job's: the asset is ready either way, and the next
/// timeline write validates everything.
async fn recheck_timeline(env: &MediaJobEnv, asset: &AssetRecord) {
    if let Err(err) =
        studio_http::timeline::recheck(env.store.as_ref(), &asset.project_id, &env.timeline_limits)
            .await
    {
        tracing::error!(asset.id = %asset.id, error = %err, "cannot re-check the timeline");
    }
}

/// Everything between `processing` and `ready`, in a temp dir removed when this returns.
async fn process(
    env: &MediaJobEnv,
    ctx: &JobContext,
    asset: &AssetRecord,
) -> Result<AssetRecord, JobError> {
    let size = asset.real_size.unwrap_or(asset.declared_size);
    ensure_space(&env.scratch, size.saturating_mul(SPACE_FACTOR)).await?;
    let dir = tempfile::Builder::new()
        .prefix("job-")
        .tempdir_in(&env.scratch)
        .map_err(|err| JobError::transient(format!("cannot create the job's temp dir: {err}")))?;
    let _held = env.held.hold(dir.path());

    report(ctx, 0.0, "downloading").await?;
    let original = dir.path().join("original");
    let original_key = key(&asset.original_key)?;
    env.blobs
        .get_to_file(&original_key, &original)
        .await
        .map_err(transient)?;

    report(ctx, DOWNLOADED, "probing").await?;
    let info = studio_media::probe(&env.tools, &original)
        .await
        .map_err(media)?;
    tracing::info!(
        media.kind = ?info.kind,
        media.duration_secs = info.duration_secs,
        "probed"
    );

    report(ctx, PROBED, "transcoding").await?;
    let out_dir = dir.path().join("out");
    tokio::fs::create_dir(&out_dir)
        .await
        .map_err(|err| JobError::transient(format!("cannot create the output dir: {err}")))?;
    let outputs = transcode(env, ctx, &original, &info, &out_dir).await?;

    report(ctx, TRANSCODED, "uploading").await?;
    let base = format!("derived/{}/{}", asset.project_id, asset.id);
    let mut keys = AssetOutputs::default();
    let proxy_name = file_name(&outputs.proxy);
    keys.proxy_key = Some(
        upload(
            env,
            &outputs.proxy,
            &format!("{base}/{proxy_name}"),
            content_type(&proxy_name),
        )
        .await?,
    );
    if let Some(poster) = &outputs.poster {
        keys.poster_key =
            Some(upload(env, poster, &format!("{base}/poster.jpg"), "image/jpeg").await?);
    }
    if let Some(waveform) = &outputs.waveform {
        let bits = WaveformBits::default();
        let files = [
            ("waveform.json", "application/json", waveform.to_json(bits)),
            (
                "waveform.dat",
                "application/octet-stream",
                waveform.to_dat(bits),
            ),
            (
                "waveform.png",
                "image/png",
                waveform
                    .to_png(
                        studio_media::waveform::DEFAULT_PNG_WIDTH,
                        studio_media::waveform::DEFAULT_PNG_HEIGHT,
                    )
                    .map_err(media)?,
            ),
        ];
        for (name, mime, bytes) in files {
            let path = out_dir.join(name);
            tokio::fs::write(&path, bytes)
                .await
                .map_err(|err| JobError::transient(format!("cannot write {name}: {err}")))?;
            let stored = upload(env, &path, &format!("{base}/{name}"), mime).await?;
            match name {
                "waveform.json" => keys.waveform_json_key = Some(stored),
                "waveform.dat" => keys.waveform_dat_key = Some(stored),
                _ => keys.waveform_png_key = Some(stored),
            }
        }
    }

    let metadata = metadata_json(&info)?;
    let ready = env
        .store
        .finish_processing(&asset.id, &keys, &metadata)
        .await
        .map_err(transient)?;
    report(ctx, 100.0, "uploading").await?;
    // Removed here explicitly so a failure to remove it is logged; on any early return the
    // `TempDir` is dropped, which removes it too.
    if let Err(err) = dir.close() {
        tracing::warn!(error = %err, "cannot remove the job's temp dir");
    }
    Ok(ready)
}

/// Runs `make_proxy`, forwarding its progress to the job (mapped into the transcoding stage's
/// range) and stopping (ffmpeg is killed with the dropped future) when the job is cancelled.
async fn transcode(
    env: &MediaJobEnv,
    ctx: &JobContext,
    original: &Path,
    info: &MediaInfo,
    out_dir: &Path,
) -> Result<studio_media::ProxyOutputs, JobError> {
    let (tx, mut rx) = watch::channel(0.0_f64);
    let work = studio_media::make_proxy(
        &env.tools,
        original,
        info,
        out_dir,
        &env.settings,
        Some(&tx),
    );
    tokio::pin!(work);
    let mut reported = PROBED;
    loop {
        tokio::select! {
            result = &mut work => return result.map_err(media),
            changed = rx.changed() => {
                if changed.is_err() {
                    continue;
                }
                let fraction = *rx.borrow_and_update();
                let percent = PROBED + (TRANSCODED - PROBED) * fraction.clamp(0.0, 1.0);
                if percent - reported >= PROGRESS_STEP {
                    reported = percent;
                    report(ctx, percent, "transcoding").await?;
                }
            }
            () = ctx.cancellation().cancelled() => return Err(JobError::cancelled()),
        }
    }
}

/// Records progress; a lost lease stops the job (another worker owns it now).
async fn report(ctx: &JobContext, percent: f64, stage: &str) -> Result<(), JobError> {
    ctx.progress(percent, Some(stage))
        .await
        .map_err(|err| JobError::transient(format!("cannot record progress: {err}")))
}

/// Refuses to start (a transient failure: retried later) unless `needed` bytes are free.
async fn ensure_space(dir: &Path, needed: u64) -> Result<(), JobError> {
    let dir = dir.to_owned();
    let free = tokio::task::spawn_blocking(move || {
        rustix::fs::statvfs(&dir).map(|stat| stat.f_bavail.saturating_mul(stat.f_frsize))
    })
    .await
    .map_err(|err| JobError::transient(format!("statvfs did not finish: {err}")))?
    .map_err(|err| JobError::transient(format!("statvfs failed: {err}")))?;
    if free < needed {
        tracing::warn!(
            temp.free_bytes = free,
            temp.needed_bytes = needed,
            "not enough temp space"
        );
        return Err(JobError::Transient {
            code: "insufficient_temp_space".to_owned(),
            message: format!("the temp dir has {free} bytes free; the job needs {needed}"),
        });
    }
    Ok(())
}

async fn upload(
    env: &MediaJobEnv,
    path: &Path,
    key_str: &str,
    mime: &str,
) -> Result<String, JobError> {
    let blob_key = key(key_str)?;
    env.blobs
        .put_file(&blob_key, path, mime)
        .await
        .map_err(transient)?;
    Ok(key_str.to_owned())
}

fn key(s: &str) -> Result<BlobKey, JobError> {
    BlobKey::parse(s).map_err(|err| JobError::permanent("bad_storage_key", err.to_string()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("proxy")
        .to_owned()
}

fn content_type(name: &str) -> &'static str {
    match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some("mp4") => "video/mp4",
        Some("m4a") => "audio/mp4",
        Some("jpg") => "image/jpeg",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    }
}

/// The probed metadata as the API shows it: studio-media's fields in camelCase.
fn metadata_json(info: &MediaInfo) -> Result<String, JobError> {
    let value = serde_json::to_value(info)
        .map_err(|err| JobError::transient(format!("cannot encode the metadata: {err}")))?;
    Ok(camel_case_keys(value).to_string())
}

fn camel_case_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| (camel(&k), camel_case_keys(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other,
    }
}

fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A media error: permanent ones (not media, bad settings) fail the job at once.
fn media(err: MediaError) -> JobError {
    let code = err.code();
    let message = err.to_string();
    if err.is_permanent() {
        tracing::warn!(error.code = code, error = %message, "media cannot be processed");
        JobError::permanent(code, message)
    } else {
        JobError::Transient {
            code: code.to_owned(),
            message,
        }
    }
}

fn transient(err: impl std::fmt::Display) -> JobError {
    JobError::transient(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_keys_are_camel_case() {
        let value = camel_case_keys(serde_json::json!({"duration_secs": 2.0, "has_audio": true}));
        assert_eq!(
            value,
            serde_json::json!({"durationSecs": 2.0, "hasAudio": true})
        );
    }

    #[tokio::test]
    async fn a_job_needing_more_space_than_is_free_is_refused_as_transient() {
        let dir = tempfile::tempdir().unwrap();
        ensure_space(dir.path(), 1).await.unwrap();
        let err = ensure_space(dir.path(), u64::MAX).await.unwrap_err();
        assert!(matches!(err, JobError::Transient { .. }), "{err:?}");
        assert_eq!(err.code(), "insufficient_temp_space");
    }

    #[test]
    fn proxy_content_types() {
        assert_eq!(content_type("proxy.mp4"), "video/mp4");
        assert_eq!(content_type("proxy.m4a"), "audio/mp4");
        assert_eq!(content_type("proxy.jpg"), "image/jpeg");
    }
}
