//! The `MediaStore` contract (and `Store::delete_project` with assets), checked against both
//! backends.
//!
//! The harness is `support`'s, shared with `store`: each check is written once as
//! `async fn(TestDb)`, `backend_tests!` makes one `#[tokio::test]` per backend, every test gets a
//! fresh SQLite file or PostgreSQL schema (`STUDIO_TEST_POSTGRES_URL`), removed afterwards, and
//! `STUDIO_TEST_BACKEND=sqlite|postgres` limits a run to one backend.

use studio_core::{
    AssetId, AssetKind, AssetStatus, JobId, MemberRole, ProjectId, ProjectName, UserId,
};
use studio_db::{
    AssetOutputs, AssetRecord, Confirmed, DbError, IntentError, NewAsset, NewJob, NewProject,
    ProjectRecord, Store, Usage,
};
use time::{Duration, OffsetDateTime};

use crate::support::{Kind, TestDb, backend_tests};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

backend_tests!(
    worker_threads = 4;
    usage_of_an_unknown_user_is_zero,
    intent_reserves_and_reads_back,
    intent_for_a_missing_project_is_not_found,
    a_refused_insert_reserves_nothing,
    quota_admits_exactly_up_to_the_limit,
    concurrent_intents_never_pass_the_quota,
    confirm_moves_the_reservation_and_records_a_job,
    confirm_reuses_the_job_of_an_idempotency_key,
    confirm_of_expired_or_missing_assets_fails,
    concurrent_confirms_make_one_job,
    expire_releases_the_reservation_once,
    delete_gives_bytes_back_by_status,
    expired_and_pending_intents_are_listed_oldest_first,
    delete_project_deletes_assets_and_gives_bytes_back,
    webhook_deliveries_are_recorded_once,
    sizes_past_i64_are_refused_not_wrapped,
    corrupt_media_rows_are_errors_not_panics,
    processing_moves_an_asset_to_ready_with_its_outputs,
    finishing_twice_ends_in_one_ready,
    failing_records_a_code_and_reprocessing_clears_it,
    processing_a_pending_or_missing_asset_is_refused,
);

// ---- helpers -------------------------------------------------------------------------------

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

async fn project(store: &dyn Store, owner: &UserId) -> ProjectRecord {
    store
        .create_project(NewProject {
            id: ProjectId::generate(),
            owner_id: owner.clone(),
            name: ProjectName::parse("Film").unwrap(),
        })
        .await
        .unwrap()
}

/// A single-part video intent of `size` bytes, lapsing `expires_in` from now.
fn new_asset(project: &ProjectId, owner: &UserId, size: u64, expires_in: Duration) -> NewAsset {
    let id = AssetId::generate();
    NewAsset {
        original_key: format!("originals/{project}/{id}"),
        id,
        project_id: project.clone(),
        owner_id: owner.clone(),
        kind: AssetKind::Video,
        filename: "take 1.mp4".to_owned(),
        content_type: "video/mp4".to_owned(),
        declared_size: size,
        upload_id: None,
        part_size: None,
        expires_at: OffsetDateTime::now_utc() + expires_in,
    }
}

/// An intent of `size` bytes, open for an hour, under a 1 GiB limit.
async fn intent(store: &dyn Store, project: &ProjectId, owner: &UserId, size: u64) -> AssetRecord {
    store
        .create_upload_intent(new_asset(project, owner, size, Duration::hours(1)), GIB)
        .await
        .unwrap()
}

/// The `process_asset` job for `asset`, keyed by the asset (as the HTTP layer keys it).
fn job_for(asset: &AssetId) -> NewJob {
    NewJob {
        id: JobId::generate(),
        kind: "process_asset".to_owned(),
        payload: format!(r#"{{"assetId":"{asset}"}}"#),
        idempotency_key: format!("process_asset:{asset}"),
        request_id: Some("req-1".to_owned()),
    }
}

async fn confirm(store: &dyn Store, asset: &AssetRecord, real_size: u64) -> Confirmed {
    store
        .confirm_upload(&asset.id, real_size, job_for(&asset.id))
        .await
        .unwrap()
}

fn usage(used: u64, reserved: u64) -> Usage {
    Usage {
        bytes_used: used,
        bytes_reserved: reserved,
    }
}

fn truncated_to_micros(at: OffsetDateTime) -> OffsetDateTime {
    at - Duration::nanoseconds(i64::from(at.nanosecond() % 1_000))
}

// ---- the contract --------------------------------------------------------------------------

async fn usage_of_an_unknown_user_is_zero(db: TestDb) {
    assert_eq!(
        db.store.usage(&user("nobody")).await.unwrap(),
        Usage::default()
    );
}

async fn intent_reserves_and_reads_back(db: TestDb) {
    let store = &*db.store;
    let (alice, bob) = (user("alice"), user("bob"));
    let film = project(store, &alice).await;
    // Carol has never been seen: the intent creates her user row (her usage row references it).
    store
        .put_member(&film.id, &bob, MemberRole::Editor)
        .await
        .unwrap();
    let mut new = new_asset(&film.id, &user("carol"), 5 * MIB, Duration::hours(1));
    new.upload_id = Some("upload-1".to_owned());
    new.part_size = Some(8 * MIB);
    let wanted = new.clone();

    let asset = store.create_upload_intent(new, GIB).await.unwrap();
    assert_eq!(asset.id, wanted.id);
    assert_eq!(asset.project_id, film.id);
    assert_eq!(asset.owner_id, user("carol"));
    assert_eq!(asset.kind, AssetKind::Video);
    assert_eq!(asset.filename, "take 1.mp4");
    assert_eq!(asset.content_type, "video/mp4");
    assert_eq!(asset.declared_size, 5 * MIB);
    assert_eq!(asset.real_size, None);
    assert_eq!(asset.status, AssetStatus::PendingUpload);
    assert_eq!(asset.original_key, wanted.original_key);
    assert_eq!(asset.upload_id.as_deref(), Some("upload-1"));
    assert_eq!(asset.part_size, Some(8 * MIB));
    assert_eq!(asset.expires_at, truncated_to_micros(wanted.expires_at));
    assert_eq!(asset.job_id, None);
    assert_eq!(asset.error, None);
    assert_eq!(asset.created_at, asset.updated_at);

    assert_eq!(
        store.usage(&user("carol")).await.unwrap(),
        usage(0, 5 * MIB)
    );
    assert_eq!(store.asset(&asset.id).await.unwrap(), Some(asset.clone()));
    assert_eq!(
        store.asset_by_key(&asset.original_key).await.unwrap(),
        Some(asset.clone())
    );
    assert_eq!(store.asset(&AssetId::generate()).await.unwrap(), None);
    assert_eq!(store.asset_by_key("originals/nope").await.unwrap(), None);

    let second = intent(store, &film.id, &bob, MIB).await;
    assert_eq!(
        store.list_assets(&film.id).await.unwrap(),
        vec![asset, second]
    );
    assert!(
        store
            .list_assets(&ProjectId::generate())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn intent_for_a_missing_project_is_not_found(db: TestDb) {
    let alice = user("alice");
    let new = new_asset(&ProjectId::generate(), &alice, MIB, Duration::hours(1));
    let outcome = db.store.create_upload_intent(new, GIB).await;
    assert!(
        matches!(outcome, Err(IntentError::Db(DbError::NotFound))),
        "{outcome:?}"
    );
    assert_eq!(db.store.usage(&alice).await.unwrap(), Usage::default());
}

async fn a_refused_insert_reserves_nothing(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice).await;
    let first = intent(store, &film.id, &alice, MIB).await;

    // Same storage key: the insert fails after the reservation, and takes it back with it.
    let mut clash = new_asset(&film.id, &alice, 3 * MIB, Duration::hours(1));
    clash.original_key = first.original_key.clone();
    let outcome = store.create_upload_intent(clash, GIB).await;
    assert!(
        matches!(
            outcome,
            Err(IntentError::Db(
                DbError::Conflict { .. } | DbError::Other(_)
            ))
        ),
        "{outcome:?}"
    );
    assert_eq!(store.usage(&alice).await.unwrap(), usage(0, MIB));
    assert_eq!(store.list_assets(&film.id).await.unwrap(), vec![first]);
}

async fn quota_admits_exactly_up_to_the_limit(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice).await;
    let limit = 10 * MIB;
    let hour = Duration::hours(1);

    store
        .create_upload_intent(new_asset(&film.id, &alice, 4 * MIB, hour), limit)
        .await
        .unwrap();
    let last = store
        .create_upload_intent(new_asset(&film.id, &alice, 6 * MIB, hour), limit)
        .await
        .unwrap();
    let full = usage(0, limit);
    assert_eq!(store.usage(&alice).await.unwrap(), full);

    // One byte more, with the numbers as they stood.
    match store
        .create_upload_intent(new_asset(&film.id, &alice, 1, hour), limit)
        .await
    {
        Err(IntentError::QuotaExceeded { usage, limit: got }) => {
            assert_eq!(usage, full);
            assert_eq!(got, limit);
        }
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
    // A file larger than the whole limit, for a user with nothing yet.
    let bob = user("bob");
    let outcome = store
        .create_upload_intent(new_asset(&film.id, &bob, limit + 1, hour), limit)
        .await;
    assert!(
        matches!(outcome, Err(IntentError::QuotaExceeded { usage, .. }) if usage == Usage::default()),
        "{outcome:?}"
    );

    // Used bytes count as much as reserved ones.
    confirm(store, &last, 6 * MIB).await;
    assert_eq!(store.usage(&alice).await.unwrap(), usage(6 * MIB, 4 * MIB));
    let outcome = store
        .create_upload_intent(new_asset(&film.id, &alice, 1, hour), limit)
        .await;
    assert!(
        matches!(outcome, Err(IntentError::QuotaExceeded { .. })),
        "{outcome:?}"
    );

    // A limit past what the database can hold is simply no limit.
    store
        .create_upload_intent(new_asset(&film.id, &alice, GIB, hour), u64::MAX)
        .await
        .unwrap();
    assert_eq!(
        store.usage(&alice).await.unwrap(),
        usage(6 * MIB, 4 * MIB + GIB)
    );
}

async fn concurrent_intents_never_pass_the_quota(db: TestDb) {
    const RACERS: usize = 50;
    const SIZE: u64 = 100 * MIB;
    let alice = user("alice");
    let film = project(&*db.store, &alice).await;

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..RACERS {
        let (store, film, alice) = (db.store.clone(), film.id.clone(), alice.clone());
        tasks.spawn(async move {
            store
                .create_upload_intent(new_asset(&film, &alice, SIZE, Duration::hours(1)), GIB)
                .await
        });
    }
    let (mut admitted, mut refused) = (0, 0);
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Ok(_) => admitted += 1,
            Err(IntentError::QuotaExceeded { usage, limit }) => {
                assert_eq!(limit, GIB);
                assert!(usage.bytes_reserved + SIZE > GIB, "{usage:?}");
                refused += 1;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((admitted, refused), (10, RACERS - 10));
    assert_eq!(db.store.usage(&alice).await.unwrap(), usage(0, 10 * SIZE));
    assert_eq!(db.store.list_assets(&film.id).await.unwrap().len(), 10);
}

async fn confirm_moves_the_reservation_and_records_a_job(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice).await;
    let asset = intent(store, &film.id, &alice, 10 * MIB).await;
    let other = intent(store, &film.id, &alice, MIB).await;

    let job = job_for(&asset.id);
    let confirmed = store
        .confirm_upload(&asset.id, 9 * MIB, job.clone())
        .await
        .unwrap();
    assert!(confirmed.newly_confirmed);
    assert_eq!(confirmed.job_id, job.id);
    assert_eq!(confirmed.asset.status, AssetStatus::Uploaded);
    assert_eq!(confirmed.asset.real_size, Some(9 * MIB));
    assert_eq!(confirmed.asset.job_id, Some(job.id.clone()));
    assert_eq!(confirmed.asset.created_at, asset.created_at);
    assert!(confirmed.asset.updated_at >= asset.updated_at);
    assert_eq!(
        store.asset(&asset.id).await.unwrap(),
        Some(confirmed.asset.clone())
    );
    // Reserved −= declared (10), used += real (9); the other intent's reservation stays.
    assert_eq!(store.usage(&alice).await.unwrap(), usage(9 * MIB, MIB));

    let recorded = store.job(&job.id).await.unwrap().expect("the job exists");
    assert_eq!(recorded.id, job.id);
    assert_eq!(recorded.kind, "process_asset");
    assert_eq!(recorded.payload, job.payload);
    assert_eq!(recorded.state, "queued");
    assert_eq!(recorded.request_id.as_deref(), Some("req-1"));
    assert_eq!(store.job(&JobId::generate()).await.unwrap(), None);

    // Again (the webhook after `complete`, say): nothing changes, the first job comes back.
    let again = store
        .confirm_upload(&asset.id, 123, job_for(&asset.id))
        .await
        .unwrap();
    assert!(!again.newly_confirmed);
    assert_eq!(again.job_id, job.id);
    assert_eq!(again.asset, confirmed.asset);
    assert_eq!(store.usage(&alice).await.unwrap(), usage(9 * MIB, MIB));
    assert_eq!(db.job_count().await, 1);

    // Later states count as confirmed too.
    db.exec_raw(&["UPDATE assets SET status = 'ready' WHERE status = 'uploaded'"])
        .await;
    let ready = confirm(store, &asset, 1).await;
    assert!(!ready.newly_confirmed);
    assert_eq!(ready.job_id, job.id);
    assert_eq!(ready.asset.status, AssetStatus::Ready);
    assert_eq!(
        store.asset(&other.id).await.unwrap().unwrap().status,
        AssetStatus::PendingUpload
    );
}

async fn confirm_reuses_the_job_of_an_idempotency_key(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice).await;
    let first = intent(store, &film.id, &alice, MIB).await;
    let second = intent(store, &film.id, &alice, MIB).await;
    let job = job_for(&first.id);
    store
        .confirm_upload(&first.id, MIB, job.clone())
        .await
        .unwrap();

    let mut same_key = job_for(&second.id);
    same_key.idempotency_key = job.idempotency_key.clone();
    let confirmed = store
        .confirm_upload(&second.id, MIB, same_key.clone())
        .await
        .unwrap();
    assert!(confirmed.newly_confirmed);
    assert_eq!(confirmed.job_id, job.id);
    assert_eq!(confirmed.asset.job_id, Some(job.id));
    assert_eq!(store.job(&same_key.id).await.unwrap(), None);
    assert_eq!(store.usage(&alice).await.unwrap(), usage(2 * MIB, 0));
}

async fn confirm_of_expired_or_missing_assets_fails(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice).await;
    let asset = intent(store, &film.id, &alice, MIB).await;
    assert!(store.expire_intent(&asset.id).await.unwrap());

    let outcome = store
        .confirm_upload(&asset.id, MIB, job_for(&asset.id))
        .await;
    assert!(
        matches!(&outcome, Err(DbError::Conflict { constraint }) if constraint == "asset_expired"),
        "{outcome:?}"
    );
    let missing = AssetId::generate();
    let outcome = store.confirm_upload(&missing, MIB, job_for(&missing)).await;
    assert!(matches!(outcome, Err(DbError::NotFound)), "{outcome:?}");
    assert_eq!(store.usage(&alice).await.unwrap(), Usage::default());
    assert_eq!(db.job_count().await, 0);
}

async fn concurrent_confirms_make_one_job(db: TestDb) {
    const RACERS: usize = 10;
    let alice = user("alice");
    let film = project(&*db.store, &alice).await;
    let asset = intent(&*db.store, &film.id, &alice, 10 * MIB).await;

    // Every racer brings its own job id and key: only the status decides who records one.
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..RACERS {
        let (store, id) = (db.store.clone(), asset.id.clone());
        tasks.spawn(async move {
            let mut job = job_for(&id);
            job.idempotency_key = format!("racer-{index}");
            store.confirm_upload(&id, 8 * MIB, job).await
        });
    }
    let mut outcomes = Vec::new();
    while let Some(outcome) = tasks.join_next().await {
        outcomes.push(outcome.unwrap().unwrap());
    }
    let winners: Vec<_> = outcomes.iter().filter(|c| c.newly_confirmed).collect();
    assert_eq!(winners.len(), 1);
    let job_id = winners[0].job_id.clone();
    assert!(outcomes.iter().all(|c| c.job_id == job_id));
    assert_eq!(db.job_count().await, 1);
    assert_eq!(db.store.usage(&alice).await.unwrap(), usage(8 * MIB, 0));
}

async fn expire_releases_the_reservation_once(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice).await;
    let lapsing = intent(store, &film.id, &alice, 3 * MIB).await;
    let uploaded = intent(store, &film.id, &alice, 2 * MIB).await;
    confirm(store, &uploaded, 2 * MIB).await;

    assert!(store.expire_intent(&lapsing.id).await.unwrap());
    let expired = store.asset(&lapsing.id).await.unwrap().unwrap();
    assert_eq!(expired.status, AssetStatus::Expired);
    assert_eq!(store.usage(&alice).await.unwrap(), usage(2 * MIB, 0));

    assert!(!store.expire_intent(&lapsing.id).await.unwrap());
    assert!(!store.expire_intent(&uploaded.id).await.unwrap());
    assert!(!store.expire_intent(&AssetId::generate()).await.unwrap());
    assert_eq!(store.usage(&alice).await.unwrap(), usage(2 * MIB, 0));
    assert_eq!(
        store.asset(&uploaded.id).await.unwrap().unwrap().status,
        AssetStatus::Uploaded
    );
}

async fn delete_gives_bytes_back_by_status(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice).await;
    let pending = intent(store, &film.id, &alice, MIB).await;
    let uploaded = intent(store, &film.id, &alice, 10 * MIB).await;
    let uploaded = confirm(store, &uploaded, 9 * MIB).await.asset;
    let ready = intent(store, &film.id, &alice, 20 * MIB).await;
    confirm(store, &ready, 20 * MIB).await;
    db.exec_raw(&["UPDATE assets SET status = 'ready' WHERE real_size = 20971520"])
        .await;
    let expired = intent(store, &film.id, &alice, 100 * MIB).await;
    store.expire_intent(&expired.id).await.unwrap();
    assert_eq!(store.usage(&alice).await.unwrap(), usage(29 * MIB, MIB));

    assert_eq!(store.delete_asset(&pending.id).await.unwrap(), pending);
    assert_eq!(store.usage(&alice).await.unwrap(), usage(29 * MIB, 0));
    assert_eq!(store.delete_asset(&uploaded.id).await.unwrap(), uploaded);
    assert_eq!(store.usage(&alice).await.unwrap(), usage(20 * MIB, 0));
    let deleted = store.delete_asset(&ready.id).await.unwrap();
    assert_eq!(deleted.status, AssetStatus::Ready);
    assert_eq!(store.usage(&alice).await.unwrap(), Usage::default());
    let deleted = store.delete_asset(&expired.id).await.unwrap();
    assert_eq!(deleted.status, AssetStatus::Expired);
    assert_eq!(store.usage(&alice).await.unwrap(), Usage::default());

    let outcome = store.delete_asset(&pending.id).await;
    assert!(matches!(outcome, Err(DbError::NotFound)), "{outcome:?}");
    assert!(store.list_assets(&film.id).await.unwrap().is_empty());
}

async fn expired_and_pending_intents_are_listed_oldest_first(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice).await;
    let create = |expires_in: Duration| {
        store.create_upload_intent(new_asset(&film.id, &alice, MIB, expires_in), GIB)
    };
    let lapsed_late = create(Duration::minutes(-10)).await.unwrap();
    let open_first = create(Duration::hours(2)).await.unwrap();
    let lapsed_early = create(Duration::hours(-2)).await.unwrap();
    let open_second = create(Duration::hours(1)).await.unwrap();
    // Neither a confirmed upload nor an expired intent is pending, lapsed or not.
    let confirmed = create(Duration::hours(-3)).await.unwrap();
    confirm(store, &confirmed, MIB).await;
    let expired = create(Duration::hours(-3)).await.unwrap();
    store.expire_intent(&expired.id).await.unwrap();

    let now = OffsetDateTime::now_utc();
    let lapsed = store.expired_intents(now, 10).await.unwrap();
    assert_eq!(lapsed, vec![lapsed_early.clone(), lapsed_late]);
    assert_eq!(
        store.expired_intents(now, 1).await.unwrap(),
        vec![lapsed_early]
    );
    assert!(store.expired_intents(now, 0).await.unwrap().is_empty());
    // Before the earliest expiry nothing has lapsed.
    let long_ago = now - Duration::days(1);
    assert!(
        store
            .expired_intents(long_ago, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let open = store.pending_intents(10).await.unwrap();
    assert_eq!(open, vec![open_first.clone(), open_second]);
    assert_eq!(store.pending_intents(1).await.unwrap(), vec![open_first]);
}

async fn delete_project_deletes_assets_and_gives_bytes_back(db: TestDb) {
    let store = &*db.store;
    let (alice, bob) = (user("alice"), user("bob"));
    let film = project(store, &alice).await;
    let kept = project(store, &alice).await;
    store
        .put_member(&film.id, &bob, MemberRole::Editor)
        .await
        .unwrap();

    let alices_pending = intent(store, &film.id, &alice, 2 * MIB).await;
    let bobs = intent(store, &film.id, &bob, 5 * MIB).await;
    confirm(store, &bobs, 4 * MIB).await;
    let alices_expired = intent(store, &film.id, &alice, 7 * MIB).await;
    store.expire_intent(&alices_expired.id).await.unwrap();
    let alices_confirmed = intent(store, &film.id, &alice, 3 * MIB).await;
    confirm(store, &alices_confirmed, 3 * MIB).await;
    let elsewhere = intent(store, &kept.id, &alice, 11 * MIB).await;
    assert_eq!(store.usage(&alice).await.unwrap(), usage(3 * MIB, 13 * MIB));
    assert_eq!(store.usage(&bob).await.unwrap(), usage(4 * MIB, 0));

    let before = store.list_assets(&film.id).await.unwrap();
    assert_eq!(before.len(), 4);
    let deleted = store.delete_project(&film.id).await.unwrap();
    assert_eq!(deleted, before, "the deleted rows, oldest first");
    assert!(deleted.contains(&alices_pending));

    assert_eq!(store.usage(&alice).await.unwrap(), usage(0, 11 * MIB));
    assert_eq!(store.usage(&bob).await.unwrap(), Usage::default());
    for asset in &before {
        assert_eq!(store.asset(&asset.id).await.unwrap(), None);
    }
    assert!(store.list_members(&film.id).await.unwrap().is_empty());
    assert_eq!(
        store.project_for_user(&film.id, &alice).await.unwrap(),
        None
    );
    assert_eq!(store.list_assets(&kept.id).await.unwrap(), vec![elsewhere]);
    // The jobs stay: the worker finds their asset gone and does nothing.
    assert_eq!(db.job_count().await, 2);

    let outcome = store.delete_project(&film.id).await;
    assert!(matches!(outcome, Err(DbError::NotFound)), "{outcome:?}");
}

async fn webhook_deliveries_are_recorded_once(db: TestDb) {
    const RACERS: usize = 20;
    let store = &*db.store;
    assert!(store.record_webhook_delivery("event-1").await.unwrap());
    assert!(!store.record_webhook_delivery("event-1").await.unwrap());
    assert!(store.record_webhook_delivery("event-2").await.unwrap());

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..RACERS {
        let store = db.store.clone();
        tasks.spawn(async move { store.record_webhook_delivery("event-3").await });
    }
    let mut firsts = 0;
    while let Some(outcome) = tasks.join_next().await {
        firsts += usize::from(outcome.unwrap().unwrap());
    }
    assert_eq!(firsts, 1);
}

async fn sizes_past_i64_are_refused_not_wrapped(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice).await;
    let huge = i64::MAX as u64 + 1;

    let outcome = store
        .create_upload_intent(
            new_asset(&film.id, &alice, huge, Duration::hours(1)),
            u64::MAX,
        )
        .await;
    assert!(
        matches!(outcome, Err(IntentError::Db(DbError::Other(_)))),
        "{outcome:?}"
    );
    let mut new = new_asset(&film.id, &alice, MIB, Duration::hours(1));
    new.part_size = Some(u64::MAX);
    let outcome = store.create_upload_intent(new, GIB).await;
    assert!(
        matches!(outcome, Err(IntentError::Db(DbError::Other(_)))),
        "{outcome:?}"
    );
    assert_eq!(store.usage(&alice).await.unwrap(), Usage::default());

    let asset = intent(store, &film.id, &alice, MIB).await;
    let outcome = store
        .confirm_upload(&asset.id, huge, job_for(&asset.id))
        .await;
    assert!(matches!(outcome, Err(DbError::Other(_))), "{outcome:?}");
    assert_eq!(store.asset(&asset.id).await.unwrap(), Some(asset));
    assert_eq!(store.usage(&alice).await.unwrap(), usage(0, MIB));
}

async fn corrupt_media_rows_are_errors_not_panics(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice).await;
    let asset = intent(store, &film.id, &alice, MIB).await;

    let unchecked: &[&'static str] = match db.kind {
        Kind::Sqlite => &[
            "PRAGMA ignore_check_constraints = ON",
            "UPDATE assets SET status = 'deleted'",
        ],
        Kind::Postgres => &[
            "ALTER TABLE assets DROP CONSTRAINT assets_status_check",
            "ALTER TABLE assets DROP CONSTRAINT assets_confirmed_check",
            "UPDATE assets SET status = 'deleted'",
        ],
    };
    db.exec_raw(unchecked).await;
    let outcome = store.asset(&asset.id).await;
    assert!(matches!(outcome, Err(DbError::Corrupt(_))), "{outcome:?}");
    let outcome = store.list_assets(&film.id).await;
    assert!(matches!(outcome, Err(DbError::Corrupt(_))), "{outcome:?}");
    let outcome = store.delete_asset(&asset.id).await;
    assert!(matches!(outcome, Err(DbError::Corrupt(_))), "{outcome:?}");
    // The failed delete rolled back: the row is still there.
    let outcome = store.asset_by_key(&asset.original_key).await;
    assert!(matches!(outcome, Err(DbError::Corrupt(_))), "{outcome:?}");

    let unchecked: &[&'static str] = match db.kind {
        Kind::Sqlite => &[
            "PRAGMA ignore_check_constraints = ON",
            "UPDATE assets SET status = 'pending_upload', declared_size = -5",
            "UPDATE usage SET bytes_used = -1",
        ],
        Kind::Postgres => &[
            "ALTER TABLE assets DROP CONSTRAINT assets_declared_size_check",
            "ALTER TABLE usage DROP CONSTRAINT usage_bytes_used_check",
            "UPDATE assets SET status = 'pending_upload', declared_size = -5",
            "UPDATE usage SET bytes_used = -1",
        ],
    };
    db.exec_raw(unchecked).await;
    let outcome = store.asset(&asset.id).await;
    assert!(matches!(outcome, Err(DbError::Corrupt(_))), "{outcome:?}");
    let outcome = store.pending_intents(10).await;
    assert!(matches!(outcome, Err(DbError::Corrupt(_))), "{outcome:?}");
    let outcome = store.usage(&alice).await;
    assert!(matches!(outcome, Err(DbError::Corrupt(_))), "{outcome:?}");
}

// ---- processing ----------------------------------------------------------------------------

fn outputs_for(asset: &AssetRecord) -> AssetOutputs {
    let base = format!("derived/{}/{}", asset.project_id, asset.id);
    AssetOutputs {
        proxy_key: Some(format!("{base}/proxy.mp4")),
        waveform_json_key: Some(format!("{base}/waveform.json")),
        waveform_dat_key: Some(format!("{base}/waveform.dat")),
        waveform_png_key: Some(format!("{base}/waveform.png")),
        poster_key: Some(format!("{base}/poster.jpg")),
    }
}

async fn processing_moves_an_asset_to_ready_with_its_outputs(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice).await;
    let asset = intent(store, &film.id, &alice, MIB).await;
    let asset = confirm(store, &asset, MIB).await.asset;
    assert_eq!(asset.outputs, AssetOutputs::default());
    assert_eq!(asset.media_info, None);

    assert!(store.start_processing(&asset.id).await.unwrap());
    assert_eq!(
        store.asset(&asset.id).await.unwrap().unwrap().status,
        AssetStatus::Processing
    );
    // Already processing: a re-run carries on without a second transition.
    assert!(!store.start_processing(&asset.id).await.unwrap());

    let outputs = outputs_for(&asset);
    let ready = store
        .finish_processing(&asset.id, &outputs, r#"{"durationSecs":2.0}"#)
        .await
        .unwrap();
    assert_eq!(ready.status, AssetStatus::Ready);
    assert_eq!(ready.outputs, outputs);
    assert_eq!(ready.media_info.as_deref(), Some(r#"{"durationSecs":2.0}"#));
    assert_eq!(ready.error_code, None);
    assert_eq!(store.asset(&asset.id).await.unwrap().unwrap(), ready);
    // Usage is untouched by processing.
    assert_eq!(store.usage(&alice).await.unwrap(), usage(MIB, 0));
}

async fn finishing_twice_ends_in_one_ready(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice).await;
    let asset = intent(store, &film.id, &alice, MIB).await;
    let asset = confirm(store, &asset, MIB).await.asset;
    assert!(store.start_processing(&asset.id).await.unwrap());
    let outputs = outputs_for(&asset);
    store
        .finish_processing(&asset.id, &outputs, "{}")
        .await
        .unwrap();
    // A re-run after a crash between the upload and the job's settlement: same keys again.
    let without_poster = AssetOutputs {
        poster_key: None,
        ..outputs.clone()
    };
    let again = store
        .finish_processing(&asset.id, &without_poster, r#"{"x":1}"#)
        .await
        .unwrap();
    assert_eq!(again.status, AssetStatus::Ready);
    assert_eq!(again.outputs, without_poster);
    assert_eq!(again.media_info.as_deref(), Some(r#"{"x":1}"#));
    let listed = store.list_assets(&film.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, AssetStatus::Ready);
}

async fn failing_records_a_code_and_reprocessing_clears_it(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice).await;
    let asset = intent(store, &film.id, &alice, MIB).await;
    let asset = confirm(store, &asset, MIB).await.asset;
    assert!(store.start_processing(&asset.id).await.unwrap());
    assert!(
        store
            .fail_processing(&asset.id, "not_media", "Invalid data found")
            .await
            .unwrap()
    );
    let failed = store.asset(&asset.id).await.unwrap().unwrap();
    assert_eq!(failed.status, AssetStatus::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("not_media"));
    assert_eq!(failed.error.as_deref(), Some("Invalid data found"));
    // Finishing a failed asset without starting again is a conflict.
    assert!(matches!(
        store
            .finish_processing(&asset.id, &outputs_for(&asset), "{}")
            .await,
        Err(DbError::Conflict { .. })
    ));

    // Reprocessing: failed → processing clears the error; so does ready → processing.
    assert!(store.start_processing(&asset.id).await.unwrap());
    let again = store.asset(&asset.id).await.unwrap().unwrap();
    assert_eq!(again.status, AssetStatus::Processing);
    assert_eq!((again.error, again.error_code), (None, None));
    store
        .finish_processing(&asset.id, &outputs_for(&asset), "{}")
        .await
        .unwrap();
    assert!(store.start_processing(&asset.id).await.unwrap());
    // A ready asset cannot be failed directly; a processing one can.
    assert!(
        store
            .fail_processing(&asset.id, "processing_failed", "boom")
            .await
            .unwrap()
    );
}

async fn processing_a_pending_or_missing_asset_is_refused(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice).await;
    let pending = intent(store, &film.id, &alice, MIB).await;
    assert!(!store.start_processing(&pending.id).await.unwrap());
    assert!(!store.fail_processing(&pending.id, "x", "y").await.unwrap());
    assert!(matches!(
        store
            .finish_processing(&pending.id, &outputs_for(&pending), "{}")
            .await,
        Err(DbError::Conflict { .. })
    ));
    assert_eq!(
        store.asset(&pending.id).await.unwrap().unwrap().status,
        AssetStatus::PendingUpload
    );
    let missing = AssetId::generate();
    assert!(matches!(
        store.start_processing(&missing).await,
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        store.fail_processing(&missing, "x", "y").await,
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        store
            .finish_processing(&missing, &AssetOutputs::default(), "{}")
            .await,
        Err(DbError::NotFound)
    ));
}
