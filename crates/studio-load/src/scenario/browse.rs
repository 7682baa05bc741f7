//! Browsing: every user makes a project with a few assets (upload intents: listed like any
//! asset, without bytes to send), then repeats what opening the editor reads until the run time
//! is over: `GET /api/projects`, `GET /api/projects/{id}/assets`,
//! `GET /api/projects/{id}/timeline`. One iteration is one such page.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::time::Instant;

use super::ScenarioReport;
use super::stats::Step;
use super::uploads::{call, create_project};
use super::users::{self, Load, User};
use crate::report::{Percentiles, micros_histogram, round3};

/// Projects listed per page, as the editor's project list asks.
const PAGE_SIZE: u32 = 20;

/// One browse run.
#[derive(Debug, Clone)]
pub struct BrowseRun {
    pub load: Load,
    /// Assets (upload intents) each user's project gets before browsing starts.
    pub assets: usize,
}

struct Steps {
    setup: Step,
    projects: Step,
    assets: Step,
    timeline: Step,
    pages: std::sync::Mutex<hdrhistogram::Histogram<u64>>,
    failed: AtomicU64,
}

/// Runs the scenario.
pub async fn run(run: BrowseRun) -> anyhow::Result<ScenarioReport> {
    let steps = Arc::new(Steps {
        setup: Step::new("setup"),
        projects: Step::new("projects"),
        assets: Step::new("assets"),
        timeline: Step::new("timeline"),
        pages: std::sync::Mutex::new(micros_histogram()),
        failed: AtomicU64::new(0),
    });
    let assets = run.assets;
    let elapsed = users::run(&run.load, std::time::Duration::ZERO, |user, schedule| {
        let steps = Arc::clone(&steps);
        async move {
            let Some(project) = setup(&user, assets, &steps.setup).await else {
                return;
            };
            while schedule.next().await {
                let started = Instant::now();
                if page(&user, &project, &steps).await {
                    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    steps
                        .pages
                        .lock()
                        .expect("histogram lock")
                        .saturating_record(micros);
                } else {
                    steps.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    })
    .await?;

    let mut report = ScenarioReport::new("browse", "page", &run.load);
    let rows = [
        &steps.setup,
        &steps.projects,
        &steps.assets,
        &steps.timeline,
    ]
    .map(|step| step.report(elapsed));
    let pages = Percentiles::from_micros(&steps.pages.lock().expect("histogram lock"));
    report.elapsed_s = round3(elapsed.as_secs_f64());
    report.iterations = pages.count;
    report.iterations_per_s = round3(pages.count as f64 / elapsed.as_secs_f64());
    report.failed_iterations = steps.failed.load(Ordering::Relaxed);
    report.iteration_ms = pages;
    report.errors = rows.iter().map(|row| row.errors).sum();
    report.steps = rows.to_vec();
    report.processes = run.load.peaks();
    Ok(report)
}

/// The user's project and its assets; `None` when the project could not be made.
async fn setup(user: &User, assets: usize, step: &Step) -> Option<String> {
    let project = create_project(user, step).await?;
    for n in 0..assets {
        let body = json!({
            "projectId": project,
            "filename": format!("clip-{n}.mp4"),
            "contentType": "video/mp4",
            "size": 1_000_000,
        });
        let request = user
            .api(Method::POST, "/api/media/upload-intent")
            .json(&body);
        call(step, request, StatusCode::CREATED).await;
    }
    Some(project)
}

/// One page: the three reads in order; `true` when all succeeded.
async fn page(user: &User, project: &str, steps: &Steps) -> bool {
    let reads = [
        (&steps.projects, format!("/api/projects?limit={PAGE_SIZE}")),
        (&steps.assets, format!("/api/projects/{project}/assets")),
        (&steps.timeline, format!("/api/projects/{project}/timeline")),
    ];
    for (step, path) in reads {
        if call(step, user.api(Method::GET, &path), StatusCode::OK)
            .await
            .is_none()
        {
            return false;
        }
    }
    true
}
