//! Browsing: every user makes a project with a few assets (upload intents: listed like any
//! asset, without bytes to send), then repeats what opening the editor reads until the run time
//! is over: `GET /api/projects`, `GET /api/projects/{id}/assets`,
//! `GET /api/projects/{id}/timeline`. One iteration is one such page.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::time::Instant;

use super::ScenarioReport;
use super::stats::{Iterations, Step};
use super::uploads::{call, create_project};
use super::users::{self, Load, User};

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
    pages: Iterations,
}

/// Runs the scenario.
pub async fn run(run: BrowseRun) -> anyhow::Result<ScenarioReport> {
    let steps = Arc::new(Steps {
        setup: Step::new("setup"),
        projects: Step::new("projects"),
        assets: Step::new("assets"),
        timeline: Step::new("timeline"),
        pages: Iterations::default(),
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
                let ok = page(&user, &project, &steps).await;
                steps.pages.record(started, ok);
            }
        }
    })
    .await?;

    let mut report = ScenarioReport::new("browse", "page", &run.load);
    steps.pages.fill(
        &mut report,
        &[
            &steps.setup,
            &steps.projects,
            &steps.assets,
            &steps.timeline,
        ],
        elapsed,
    );
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
