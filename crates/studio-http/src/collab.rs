//! The HTTP layer's side of collaboration: the [`TimelineSink`] that validates the Project JSON a
//! live document holds and promotes it to the project's timeline (the same validation and asset
//! catalog as `PUT …/timeline`).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use studio_collab::{TimelineSink, TimelineVerdict};
use studio_core::ProjectId;
use studio_core::timeline::{self, TimelineLimits, Violation};
use studio_db::{Store, TimelineWriteError};

use crate::timeline::{catalog, missing_asset_violations};

/// Promotes valid documents with the store's timeline writes.
pub struct StoreTimelineSink {
    pub store: Arc<dyn Store>,
    pub limits: TimelineLimits,
}

fn problems(violations: Vec<Violation>) -> TimelineVerdict {
    TimelineVerdict::Invalid {
        problems: violations
            .into_iter()
            .filter_map(|v| serde_json::to_value(v).ok())
            .collect(),
    }
}

#[async_trait]
impl TimelineSink for StoreTimelineSink {
    async fn promote(
        &self,
        project: &ProjectId,
        document: Value,
    ) -> anyhow::Result<TimelineVerdict> {
        let verdict = self.check_and_write(project, document).await?;
        // What `GET …/timeline` says about the live document.
        let problems = match &verdict {
            TimelineVerdict::Invalid { problems } => Some(serde_json::to_string(problems)?),
            _ => None,
        };
        self.store
            .collab_set_problems(project, problems.as_deref())
            .await?;
        Ok(verdict)
    }

    async fn current(&self, project: &ProjectId) -> anyhow::Result<Value> {
        let stored = self.store.timeline(project).await?;
        Ok(serde_json::to_value(&stored.document)?)
    }
}

impl StoreTimelineSink {
    /// Validates `document` against the project's assets and writes it when it is valid and
    /// differs from the current timeline.
    async fn check_and_write(
        &self,
        project: &ProjectId,
        document: Value,
    ) -> anyhow::Result<TimelineVerdict> {
        let assets = self.store.list_assets(project).await?;
        let limits = self.limits.clone();
        // Validation of a large document is CPU work: off the runtime's threads.
        let checked = tokio::task::spawn_blocking(move || {
            let bytes = serde_json::to_vec(&document)?;
            Ok::<_, serde_json::Error>(timeline::parse_and_validate(
                &bytes,
                &limits,
                &catalog(&assets),
            ))
        })
        .await??;
        let document = match checked {
            Ok(document) => document,
            Err(violations) => return Ok(problems(violations)),
        };
        let stored = self.store.timeline(project).await?;
        if stored.document == document {
            return Ok(TimelineVerdict::Unchanged {
                version: stored.version,
            });
        }
        match self.store.replace_timeline(project, &document, None).await {
            Ok(version) => {
                tracing::info!(project.id = %project, timeline.version = version, "timeline promoted from the collaborative document");
                Ok(TimelineVerdict::Promoted { version })
            }
            Err(TimelineWriteError::MissingAssets { asset_ids }) => {
                Ok(problems(missing_asset_violations(&document, &asset_ids)))
            }
            Err(TimelineWriteError::Stale { current }) => {
                Ok(TimelineVerdict::Unchanged { version: current })
            }
            Err(TimelineWriteError::Db(err)) => Err(err.into()),
        }
    }
}
