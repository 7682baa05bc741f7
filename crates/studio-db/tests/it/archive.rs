//! The `ArchiveStore` contract (use tracking and original tiers), checked against both backends
//! with `support`'s harness.

use std::time::Duration as StdDuration;

use studio_core::{AssetId, AssetKind, JobId, ProjectId, ProjectName, UserId};
use studio_db::{
    AssetOutputs, AssetRecord, DbError, NewAsset, NewJob, NewProject, OriginalTier, Store,
};
use time::{Duration, OffsetDateTime};

use crate::support::{TestDb, backend_tests};

backend_tests!(
    worker_threads = 2;
    new_assets_start_hot_and_used_at_creation,
    touches_write_only_past_the_granularity,
    touching_a_project_touches_all_its_assets,
    idle_originals_are_processed_hot_and_unused,
    marking_cold_is_conditional_on_still_idle,
    tier_moves_are_compare_and_set,
);

const HOUR: StdDuration = StdDuration::from_secs(3600);

fn alice() -> UserId {
    UserId::parse("alice").unwrap()
}

async fn project(store: &dyn Store) -> ProjectId {
    store
        .create_project(NewProject {
            id: ProjectId::generate(),
            owner_id: alice(),
            name: ProjectName::parse("Film").unwrap(),
        })
        .await
        .unwrap()
        .id
}

/// An asset of `project`: a pending intent, or (`processed`) one confirmed and `ready`.
async fn asset(store: &dyn Store, project: &ProjectId, processed: bool) -> AssetRecord {
    let id = AssetId::generate();
    let new = NewAsset {
        original_key: format!("originals/{project}/{id}"),
        id: id.clone(),
        project_id: project.clone(),
        owner_id: alice(),
        kind: AssetKind::Video,
        filename: "a.mp4".to_owned(),
        content_type: "video/mp4".to_owned(),
        declared_size: 10,
        upload_id: None,
        part_size: None,
        expires_at: OffsetDateTime::now_utc() + Duration::hours(1),
    };
    let created = store.create_upload_intent(new, 1 << 30).await.unwrap();
    if !processed {
        return created;
    }
    let job = NewJob {
        id: JobId::generate(),
        kind: "process_asset".to_owned(),
        payload: "{}".to_owned(),
        idempotency_key: format!("process_asset:{id}"),
        request_id: None,
    };
    store.confirm_upload(&id, 10, job).await.unwrap();
    assert!(store.start_processing(&id).await.unwrap());
    let outputs = AssetOutputs {
        proxy_key: Some(format!("derived/{id}/proxy.mp4")),
        ..AssetOutputs::default()
    };
    store.finish_processing(&id, &outputs, "{}").await.unwrap()
}

async fn reread(store: &dyn Store, id: &AssetId) -> AssetRecord {
    store.asset(id).await.unwrap().unwrap()
}

/// What the database keeps of an instant: microseconds.
fn micros(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(at.nanosecond() / 1_000 * 1_000)
        .unwrap()
}

fn ids(assets: &[AssetRecord]) -> Vec<&AssetId> {
    assets.iter().map(|a| &a.id).collect()
}

async fn new_assets_start_hot_and_used_at_creation(db: TestDb) {
    let store = &*db.store;
    let film = project(store).await;
    let a = asset(store, &film, false).await;
    assert_eq!(a.original_tier, OriginalTier::Hot);
    assert_eq!(a.original_tier_changed_at, None);
    assert_eq!(a.last_accessed_at, a.created_at);
}

async fn touches_write_only_past_the_granularity(db: TestDb) {
    let store = &*db.store;
    let film = project(store).await;
    let a = asset(store, &film, true).await;
    let start = a.last_accessed_at;
    // Within the hour: no write.
    let soon = start + Duration::minutes(30);
    assert!(!store.touch_asset(&a.id, soon, HOUR).await.unwrap());
    assert_eq!(reread(store, &a.id).await.last_accessed_at, start);
    // Past it: one write, and the asset's `updated_at` is not a use.
    let later = start + Duration::hours(2);
    assert!(store.touch_asset(&a.id, later, HOUR).await.unwrap());
    let touched = reread(store, &a.id).await;
    assert_eq!(touched.last_accessed_at, later);
    assert_eq!(touched.updated_at, a.updated_at);
    // A touch "before" the recorded use never moves it back.
    assert!(!store.touch_asset(&a.id, start, HOUR).await.unwrap());
    // A zero granularity writes every later use; a missing asset is no error.
    assert!(
        store
            .touch_asset(&a.id, later + Duration::seconds(1), StdDuration::ZERO)
            .await
            .unwrap()
    );
    assert!(
        !store
            .touch_asset(&AssetId::generate(), later, HOUR)
            .await
            .unwrap()
    );
}

async fn touching_a_project_touches_all_its_assets(db: TestDb) {
    let store = &*db.store;
    let (film, other) = (project(store).await, project(store).await);
    let a = asset(store, &film, true).await;
    let b = asset(store, &film, false).await;
    let c = asset(store, &other, true).await;
    let later = micros(OffsetDateTime::now_utc() + Duration::days(3));
    assert_eq!(
        store
            .touch_project_assets(&film, later, HOUR)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .touch_project_assets(&film, later + Duration::minutes(5), HOUR)
            .await
            .unwrap(),
        0
    );
    assert_eq!(reread(store, &a.id).await.last_accessed_at, later);
    assert_eq!(reread(store, &b.id).await.last_accessed_at, later);
    assert_eq!(
        reread(store, &c.id).await.last_accessed_at,
        c.last_accessed_at
    );
}

async fn idle_originals_are_processed_hot_and_unused(db: TestDb) {
    let store = &*db.store;
    let film = project(store).await;
    let old = asset(store, &film, true).await;
    let older = asset(store, &film, true).await;
    let pending = asset(store, &film, false).await;
    let recent = asset(store, &film, true).await;
    let now = micros(OffsetDateTime::now_utc());
    store
        .touch_asset(&old.id, now + Duration::days(1), StdDuration::ZERO)
        .await
        .unwrap();
    store
        .touch_asset(&recent.id, now + Duration::days(29), StdDuration::ZERO)
        .await
        .unwrap();
    // 30 days of inactivity, seen from 30 days after `now + 1 day`.
    let idle_since = now + Duration::days(2);
    let idle = store.idle_originals(idle_since, 10).await.unwrap();
    assert_eq!(
        ids(&idle),
        vec![&older.id, &old.id],
        "least recently used first"
    );
    assert_eq!(
        ids(&store.idle_originals(idle_since, 1).await.unwrap()),
        vec![&older.id]
    );
    let _ = (pending, recent);
    // Once cold, an original is not idle-hot any more.
    assert!(
        store
            .mark_original_cold(&old.id, idle_since, now)
            .await
            .unwrap()
    );
    let idle = store.idle_originals(idle_since, 10).await.unwrap();
    assert_eq!(ids(&idle), vec![&older.id]);
    let cold = store
        .originals_in_tier(OriginalTier::Cold, 10)
        .await
        .unwrap();
    assert_eq!(ids(&cold), vec![&old.id]);
}

async fn marking_cold_is_conditional_on_still_idle(db: TestDb) {
    let store = &*db.store;
    let film = project(store).await;
    let a = asset(store, &film, true).await;
    let pending = asset(store, &film, false).await;
    let idle_since = a.last_accessed_at + Duration::days(1);
    // Used after the scan: not archived.
    store
        .touch_asset(&a.id, idle_since + Duration::hours(1), StdDuration::ZERO)
        .await
        .unwrap();
    let now = idle_since + Duration::hours(2);
    assert!(
        !store
            .mark_original_cold(&a.id, idle_since, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_original_cold(&pending.id, now, now)
            .await
            .unwrap(),
        "an intent has no original to archive"
    );
    let later = now + Duration::days(1);
    assert!(store.mark_original_cold(&a.id, later, now).await.unwrap());
    let cold = reread(store, &a.id).await;
    assert_eq!(cold.original_tier, OriginalTier::Cold);
    assert_eq!(cold.original_tier_changed_at, Some(now));
    // Only once.
    assert!(!store.mark_original_cold(&a.id, later, now).await.unwrap());
}

async fn tier_moves_are_compare_and_set(db: TestDb) {
    let store = &*db.store;
    let film = project(store).await;
    let a = asset(store, &film, true).await;
    let t0 = a.last_accessed_at + Duration::days(31);
    assert!(store.mark_original_cold(&a.id, t0, t0).await.unwrap());
    let t1 = t0 + Duration::minutes(1);
    assert!(
        !store
            .set_original_tier(&a.id, OriginalTier::Hot, OriginalTier::Restoring, t1)
            .await
            .unwrap()
    );
    assert!(
        store
            .set_original_tier(&a.id, OriginalTier::Cold, OriginalTier::Restoring, t1)
            .await
            .unwrap()
    );
    let restoring = reread(store, &a.id).await;
    assert_eq!(restoring.original_tier, OriginalTier::Restoring);
    assert_eq!(restoring.original_tier_changed_at, Some(t1));
    assert_eq!(restoring.last_accessed_at, a.last_accessed_at);
    // Back to hot counts as a use: a whole new idle period before the next archive.
    let t2 = t1 + Duration::hours(3);
    assert!(
        store
            .set_original_tier(&a.id, OriginalTier::Restoring, OriginalTier::Hot, t2)
            .await
            .unwrap()
    );
    let hot = reread(store, &a.id).await;
    assert_eq!(
        (
            hot.original_tier,
            hot.original_tier_changed_at,
            hot.last_accessed_at
        ),
        (OriginalTier::Hot, Some(t2), t2)
    );
    assert!(store.idle_originals(t2, 10).await.unwrap().is_empty());
    assert!(matches!(
        store
            .set_original_tier(
                &AssetId::generate(),
                OriginalTier::Hot,
                OriginalTier::Cold,
                t2
            )
            .await,
        Err(DbError::NotFound)
    ));
}
