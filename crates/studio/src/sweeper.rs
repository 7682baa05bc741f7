//! The sweeper: removes scratch files nobody will use again, on a schedule, in every process
//! that has scratch space (`studio serve` and `studio worker`).
//!
//! - The worker's temp space. Studio writes only under `{temp_dir}/jobs` (one `w-{pid}`
//!   directory per worker process, one `job-*` directory per running job inside it, see
//!   [`crate::jobs`]), so only that is swept, and a `temp_dir` shared with other programs (even
//!   `/tmp`) is safe. An entry is removed when it was last modified more than `temp_max_age`
//!   ago and no running job holds it: in this process's own directory, the job directories not
//!   in [`HeldDirs`]; the directories of worker processes that are gone; anything else under
//!   `jobs/` that is not a live neighbour's directory (a live process sweeps its own).
//! - The local store's partial writes (`.tmp/` of the store and of its cold directory), older
//!   than the same age: a write in progress touches its file with every chunk.
//!
//! Expired upload intents are the reconciler's (`studio_http::reconciler`): it releases their
//! reservations, aborts their multipart uploads and removes stray objects.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use studio_storage::local::LocalStore;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::jobs::{WORKER_DIR_PREFIX, process_is_gone};

/// The job directories of this process's running jobs.
#[derive(Debug, Clone, Default)]
pub struct HeldDirs(Arc<Mutex<HashSet<PathBuf>>>);

/// Holds a directory until dropped.
#[derive(Debug)]
pub struct Held {
    dirs: HeldDirs,
    path: PathBuf,
}

impl HeldDirs {
    /// Marks `path` as in use by a running job until the guard drops.
    pub fn hold(&self, path: &Path) -> Held {
        self.lock().insert(path.to_owned());
        Held {
            dirs: self.clone(),
            path: path.to_owned(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<PathBuf>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn snapshot(&self) -> HashSet<PathBuf> {
        self.lock().clone()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.dirs.lock().remove(&self.path);
    }
}

/// What the sweeper needs.
#[derive(Clone)]
pub struct Sweeper {
    pub temp_dir: PathBuf,
    pub max_age: Duration,
    pub interval: Duration,
    pub held: HeldDirs,
    /// The local store, whose partial writes are swept too.
    pub local: Option<Arc<LocalStore>>,
}

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Entries of the temp space (files or whole directories).
    pub temp_entries: u64,
    /// Partial writes of the local store.
    pub partial_writes: u64,
}

impl Sweeper {
    /// One sweep. Failures are logged; what could not be removed waits for the next sweep.
    pub async fn sweep_once(&self) -> SweepReport {
        let jobs = self.temp_dir.join("jobs");
        let held = self.held.snapshot();
        let max_age = self.max_age;
        let temp_entries = match tokio::task::spawn_blocking(move || {
            sweep_jobs_dir(&jobs, max_age, &held, std::process::id())
        })
        .await
        {
            Ok(removed) => removed,
            Err(err) => {
                tracing::error!(error = %err, "the temp sweep panicked");
                0
            }
        };
        let partial_writes = match &self.local {
            Some(local) => local
                .sweep_partial_writes(self.max_age)
                .await
                .unwrap_or_else(|err| {
                    tracing::warn!(error = %err, "cannot sweep the store's partial writes");
                    0
                }),
            None => 0,
        };
        SweepReport {
            temp_entries,
            partial_writes,
        }
    }
}

/// Sweeps every `interval` (the first at once) until `shutdown`.
pub async fn run(sweeper: Sweeper, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(sweeper.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let report = sweeper.sweep_once().await;
        if report != SweepReport::default() {
            tracing::info!(
                sweep.temp_entries = report.temp_entries,
                sweep.partial_writes = report.partial_writes,
                "swept stale scratch files"
            );
        }
    }
}

/// Whether `path` (not followed if a link) was last modified more than `max_age` ago.
fn is_stale(path: &Path, max_age: Duration) -> bool {
    std::fs::symlink_metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|at| SystemTime::now().duration_since(at).ok())
        .is_some_and(|age| age > max_age)
}

/// Removes a file or a whole directory; true when it did.
fn remove(path: &Path) -> bool {
    let removed = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(err) => Err(err),
    };
    match removed {
        Ok(()) => true,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => false,
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "cannot remove stale scratch");
            false
        }
    }
}

/// The entries of `dir` (none when it does not exist or cannot be read).
fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|it| it.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// The sweep of `{temp_dir}/jobs` (blocking): see the module comment. Returns how many entries
/// it removed.
fn sweep_jobs_dir(jobs: &Path, max_age: Duration, held: &HashSet<PathBuf>, own_pid: u32) -> u64 {
    let mut removed = 0;
    for entry in entries(jobs) {
        let pid = entry
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(WORKER_DIR_PREFIX))
            .and_then(|p| p.parse::<u32>().ok());
        match pid {
            Some(pid) if pid == own_pid => {
                for job in entries(&entry) {
                    if !held.contains(&job) && is_stale(&job, max_age) && remove(&job) {
                        removed += 1;
                    }
                }
            }
            // A live neighbour sweeps its own.
            Some(pid) if !process_is_gone(pid) => {}
            // A dead worker's directory, or something else: removed once old.
            _ => {
                if is_stale(&entry, max_age) && remove(&entry) {
                    removed += 1;
                }
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(path: &Path, secs: u64) {
        let past = SystemTime::now() - Duration::from_secs(secs);
        let file = std::fs::File::open(path).unwrap();
        file.set_modified(past).unwrap();
    }

    #[test]
    fn old_unheld_entries_go_and_fresh_or_held_ones_stay() {
        let temp = tempfile::tempdir().unwrap();
        let jobs = temp.path().join("jobs");
        let own = jobs.join(format!("{WORKER_DIR_PREFIX}{}", std::process::id()));
        let (stale, held_dir, fresh) = (own.join("job-a"), own.join("job-b"), own.join("job-c"));
        // No process can have this pid (Linux caps pids at 2^22); pid 1 is always alive.
        let dead = jobs.join(format!("{WORKER_DIR_PREFIX}999999999"));
        let live = jobs.join(format!("{WORKER_DIR_PREFIX}1"));
        let stray = jobs.join("stray.bin");
        for dir in [&stale, &held_dir, &fresh, &dead, &live] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(&stray, b"x").unwrap();
        for path in [&stale, &held_dir, &dead, &live, &stray] {
            age(path, 7200);
        }
        let held = HashSet::from([held_dir.clone()]);
        let removed = sweep_jobs_dir(&jobs, Duration::from_secs(3600), &held, std::process::id());
        assert_eq!(removed, 3);
        assert!(!stale.exists() && !dead.exists() && !stray.exists());
        assert!(held_dir.exists() && fresh.exists() && live.exists());
        // Nothing outside `jobs/` is touched.
        let outside = temp.path().join("someone-elses.txt");
        std::fs::write(&outside, b"x").unwrap();
        age(&outside, 7200);
        sweep_jobs_dir(&jobs, Duration::from_secs(3600), &held, std::process::id());
        assert!(outside.exists());
    }

    #[test]
    fn a_held_dir_is_released_when_its_guard_drops() {
        let dirs = HeldDirs::default();
        let guard = dirs.hold(Path::new("/x/job-1"));
        assert!(dirs.snapshot().contains(Path::new("/x/job-1")));
        drop(guard);
        assert!(dirs.snapshot().is_empty());
    }
}
