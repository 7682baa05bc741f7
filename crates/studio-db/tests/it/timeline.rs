//! The `TimelineStore` contract, checked against both backends (harness: `support`).

use std::sync::Arc;

use studio_core::timeline::{Clip, Project};
use studio_core::{AssetId, AssetKind, JobId, ProjectId, ProjectName, UserId};
use studio_db::{
    AssetRecord, AssetRemovalError, ClipUse, DbError, NewAsset, NewJob, NewProject, ProjectPatch,
    ProjectRecord, Store, TimelineWriteError, Usage,
};
use time::{Duration, OffsetDateTime};

use crate::support::{TestDb, backend_tests};

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

backend_tests!(
    worker_threads = 4;
    a_new_project_starts_with_the_empty_timeline_at_version_1,
    the_starting_timeline_keeps_its_name_after_a_rename,
    every_write_adds_one_to_the_version,
    a_stale_version_is_refused_and_nothing_changes,
    of_concurrent_writes_from_one_version_exactly_one_wins,
    writing_a_missing_project_is_not_found,
    clips_may_only_use_assets_of_the_project,
    problems_are_kept_for_the_version_they_describe,
    deleting_an_asset_in_use_is_refused_naming_the_clips,
    a_forced_delete_removes_the_clips_and_the_asset_together,
    a_failed_forced_delete_changes_nothing,
    deleting_an_unused_asset_leaves_the_timeline_alone,
    deleting_a_missing_asset_is_not_found,
    a_write_and_a_delete_never_leave_a_clip_without_its_asset,
);

// ---- helpers -------------------------------------------------------------------------------

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

async fn project(store: &dyn Store, owner: &UserId, name: &str) -> ProjectRecord {
    store
        .create_project(NewProject {
            id: ProjectId::generate(),
            owner_id: owner.clone(),
            name: ProjectName::parse(name).unwrap(),
        })
        .await
        .unwrap()
}

/// A confirmed (uploaded) video asset of `size` bytes.
async fn asset(store: &dyn Store, project: &ProjectId, owner: &UserId, size: u64) -> AssetRecord {
    let id = AssetId::generate();
    let asset = store
        .create_upload_intent(
            NewAsset {
                original_key: format!("originals/{project}/{id}"),
                id,
                project_id: project.clone(),
                owner_id: owner.clone(),
                kind: AssetKind::Video,
                filename: "take.mp4".to_owned(),
                content_type: "video/mp4".to_owned(),
                declared_size: size,
                upload_id: None,
                part_size: None,
                expires_at: OffsetDateTime::now_utc() + Duration::hours(1),
            },
            GIB,
        )
        .await
        .unwrap();
    store
        .confirm_upload(
            &asset.id,
            size,
            NewJob {
                id: JobId::generate(),
                kind: "process_asset".to_owned(),
                payload: format!(r#"{{"assetId":"{}"}}"#, asset.id),
                idempotency_key: format!("process_asset:{}", asset.id),
                request_id: None,
            },
        )
        .await
        .unwrap()
        .asset
}

fn clip(id: &str, asset: &AssetId, start: f64) -> Clip {
    Clip {
        id: id.to_owned(),
        asset_id: Some(asset.to_string()),
        start,
        duration: 1.0,
        source_start: None,
        speed: None,
        volume: None,
        fade_in: None,
        fade_out: None,
        name: None,
        text: None,
        style: None,
    }
}

/// The empty timeline of `name` with `video` clips on the video track and `audio` ones on the
/// audio track, one second each, end to end.
fn document(name: &str, video: &[(&str, &AssetId)], audio: &[(&str, &AssetId)]) -> Project {
    let mut doc = Project::empty(name);
    let place = |clips: &[(&str, &AssetId)]| {
        clips
            .iter()
            .enumerate()
            .map(|(i, (id, asset))| clip(id, asset, i as f64))
            .collect()
    };
    doc.tracks[0].clips = place(video);
    doc.tracks[1].clips = place(audio);
    doc
}

fn clip_ids(doc: &Project) -> Vec<&str> {
    doc.clips().map(|(_, _, clip)| clip.id.as_str()).collect()
}

// ---- the contract --------------------------------------------------------------------------

async fn a_new_project_starts_with_the_empty_timeline_at_version_1(db: TestDb) {
    let store = &*db.store;
    let film = project(store, &user("alice"), "Launch film").await;
    let timeline = store.timeline(&film.id).await.unwrap();
    assert_eq!(timeline.document, Project::empty("Launch film"));
    assert_eq!(timeline.version, 1);
    assert_eq!(timeline.problems, None);
    // Reading again gives the same.
    assert_eq!(store.timeline(&film.id).await.unwrap(), timeline);
    assert!(matches!(
        store.timeline(&ProjectId::generate()).await,
        Err(DbError::NotFound)
    ));
}

async fn the_starting_timeline_keeps_its_name_after_a_rename(db: TestDb) {
    let store = &*db.store;
    let film = project(store, &user("alice"), "First").await;
    let before = store.timeline(&film.id).await.unwrap();
    store
        .update_project(
            &film.id,
            ProjectPatch {
                name: Some(ProjectName::parse("Second").unwrap()),
            },
        )
        .await
        .unwrap();
    // Version 1 is one document: the ETag "1" must not name two.
    assert_eq!(store.timeline(&film.id).await.unwrap(), before);
}

async fn every_write_adds_one_to_the_version(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice, "Film").await;
    let take = asset(store, &film.id, &alice, MIB).await;
    let first = document("Film", &[("a", &take.id)], &[]);
    assert_eq!(
        store
            .replace_timeline(&film.id, &first, Some(1))
            .await
            .unwrap(),
        2
    );
    let stored = store.timeline(&film.id).await.unwrap();
    assert_eq!(stored.document, first);
    assert_eq!(stored.version, 2);

    // Without a version: last write wins, whatever the version is.
    let second = document("Film", &[("a", &take.id)], &[("b", &take.id)]);
    assert_eq!(
        store
            .replace_timeline(&film.id, &second, None)
            .await
            .unwrap(),
        3
    );
    let third = Project::empty("Renamed inside");
    assert_eq!(
        store
            .replace_timeline(&film.id, &third, Some(3))
            .await
            .unwrap(),
        4
    );
    let stored = store.timeline(&film.id).await.unwrap();
    assert_eq!(stored.document, third);
    assert_eq!(stored.version, 4);
    // Touching the timeline touches the project.
    let read = store
        .project_for_user(&film.id, &alice)
        .await
        .unwrap()
        .unwrap();
    assert!(read.project.updated_at > film.updated_at);
}

async fn a_stale_version_is_refused_and_nothing_changes(db: TestDb) {
    let store = &*db.store;
    let film = project(store, &user("alice"), "Film").await;
    let mine = Project::empty("Mine");
    store
        .replace_timeline(&film.id, &mine, Some(1))
        .await
        .unwrap();
    let theirs = Project::empty("Theirs");
    for stale in [1, 3, 0, -1] {
        let outcome = store.replace_timeline(&film.id, &theirs, Some(stale)).await;
        assert!(
            matches!(outcome, Err(TimelineWriteError::Stale { current: 2 })),
            "{stale}: {outcome:?}"
        );
    }
    let stored = store.timeline(&film.id).await.unwrap();
    assert_eq!(stored.document, mine);
    assert_eq!(stored.version, 2);
}

async fn of_concurrent_writes_from_one_version_exactly_one_wins(db: TestDb) {
    let store = db.store.clone();
    let film = project(&*store, &user("alice"), "Film").await;
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            let id = film.id.clone();
            tokio::spawn(async move {
                let doc = Project::empty(&format!("Tab {i}"));
                (i, store.replace_timeline(&id, &doc, Some(1)).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for writer in writers {
        match writer.await.unwrap() {
            (i, Ok(version)) => {
                assert_eq!(version, 2);
                winners.push(i);
            }
            (_, Err(TimelineWriteError::Stale { current })) => assert_eq!(current, 2),
            (_, Err(other)) => panic!("{other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let stored = store.timeline(&film.id).await.unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.document.name, format!("Tab {}", winners[0]));
}

async fn writing_a_missing_project_is_not_found(db: TestDb) {
    let outcome = db
        .store
        .replace_timeline(&ProjectId::generate(), &Project::empty("x"), None)
        .await;
    assert!(
        matches!(outcome, Err(TimelineWriteError::Db(DbError::NotFound))),
        "{outcome:?}"
    );
    let outcome = db
        .store
        .set_timeline_problems(&ProjectId::generate(), 1, None)
        .await;
    assert!(matches!(outcome, Err(DbError::NotFound)), "{outcome:?}");
}

async fn clips_may_only_use_assets_of_the_project(db: TestDb) {
    let store = &*db.store;
    let (alice, bob) = (user("alice"), user("bob"));
    let film = project(store, &alice, "Film").await;
    let other = project(store, &bob, "Other").await;
    let mine = asset(store, &film.id, &alice, MIB).await;
    let theirs = asset(store, &other.id, &bob, MIB).await;
    let gone = asset(store, &film.id, &alice, MIB).await;
    store.delete_asset(&gone.id).await.unwrap();
    let never = AssetId::generate();

    let doc = document(
        "Film",
        &[("a", &mine.id), ("b", &theirs.id), ("c", &gone.id)],
        &[("d", &never), ("e", &theirs.id)],
    );
    let outcome = store.replace_timeline(&film.id, &doc, None).await;
    let Err(TimelineWriteError::MissingAssets { asset_ids }) = outcome else {
        panic!("{outcome:?}");
    };
    let mut wanted = vec![
        theirs.id.to_string(),
        gone.id.to_string(),
        never.to_string(),
    ];
    wanted.sort();
    assert_eq!(asset_ids, wanted);
    assert_eq!(store.timeline(&film.id).await.unwrap().version, 1);

    let doc = document("Film", &[("a", &mine.id)], &[("b", &mine.id)]);
    assert_eq!(
        store.replace_timeline(&film.id, &doc, None).await.unwrap(),
        2
    );
}

async fn problems_are_kept_for_the_version_they_describe(db: TestDb) {
    let store = &*db.store;
    let film = project(store, &user("alice"), "Film").await;
    let problems =
        r#"[{"pointer":"/tracks/0/clips/0/duration","code":"beyond_source","message":"m"}]"#;
    assert!(
        store
            .set_timeline_problems(&film.id, 1, Some(problems))
            .await
            .unwrap()
    );
    assert_eq!(
        store.timeline(&film.id).await.unwrap().problems.as_deref(),
        Some(problems)
    );
    // About a version that is no longer the current one: not stored.
    assert!(
        !store
            .set_timeline_problems(&film.id, 2, Some("[]"))
            .await
            .unwrap()
    );
    // Cleared explicitly.
    assert!(
        store
            .set_timeline_problems(&film.id, 1, None)
            .await
            .unwrap()
    );
    assert_eq!(store.timeline(&film.id).await.unwrap().problems, None);
    // And by any write.
    store
        .set_timeline_problems(&film.id, 1, Some(problems))
        .await
        .unwrap();
    store
        .replace_timeline(&film.id, &Project::empty("Film"), None)
        .await
        .unwrap();
    let stored = store.timeline(&film.id).await.unwrap();
    assert_eq!((stored.version, stored.problems), (2, None));
    assert!(
        !store
            .set_timeline_problems(&film.id, 1, Some(problems))
            .await
            .unwrap()
    );
}

async fn deleting_an_asset_in_use_is_refused_naming_the_clips(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice, "Film").await;
    let used = asset(store, &film.id, &alice, MIB).await;
    let other = asset(store, &film.id, &alice, 2 * MIB).await;
    let doc = document(
        "Film",
        &[("a", &other.id), ("b", &used.id)],
        &[("c", &used.id)],
    );
    store.replace_timeline(&film.id, &doc, None).await.unwrap();
    let before = store.usage(&alice).await.unwrap();

    let outcome = store.delete_asset_in_timeline(&used.id, false).await;
    let Err(AssetRemovalError::InUse { clips }) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        clips,
        vec![
            ClipUse {
                track_id: "video-1".to_owned(),
                clip_id: "b".to_owned(),
                pointer: "/tracks/0/clips/1".to_owned(),
            },
            ClipUse {
                track_id: "audio-1".to_owned(),
                clip_id: "c".to_owned(),
                pointer: "/tracks/1/clips/0".to_owned(),
            },
        ]
    );
    assert_eq!(store.asset(&used.id).await.unwrap(), Some(used));
    assert_eq!(store.usage(&alice).await.unwrap(), before);
    let stored = store.timeline(&film.id).await.unwrap();
    assert_eq!((stored.document, stored.version), (doc, 2));
}

async fn a_forced_delete_removes_the_clips_and_the_asset_together(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice, "Film").await;
    let used = asset(store, &film.id, &alice, MIB).await;
    let other = asset(store, &film.id, &alice, 2 * MIB).await;
    let doc = document(
        "Film",
        &[("a", &other.id), ("b", &used.id)],
        &[("c", &used.id)],
    );
    store.replace_timeline(&film.id, &doc, None).await.unwrap();
    store
        .set_timeline_problems(&film.id, 2, Some("[]"))
        .await
        .unwrap();

    let removal = store
        .delete_asset_in_timeline(&used.id, true)
        .await
        .unwrap();
    assert_eq!(removal.asset.id, used.id);
    assert_eq!(
        removal
            .removed_clips
            .iter()
            .map(|c| c.clip_id.as_str())
            .collect::<Vec<_>>(),
        ["b", "c"]
    );
    assert_eq!(removal.timeline_version, Some(3));

    let stored = store.timeline(&film.id).await.unwrap();
    assert_eq!(stored.version, 3);
    assert_eq!(clip_ids(&stored.document), ["a"]);
    assert_eq!(stored.problems, None, "problems were about version 2");
    assert_eq!(store.asset(&used.id).await.unwrap(), None);
    assert_eq!(
        store.usage(&alice).await.unwrap(),
        Usage {
            bytes_used: 2 * MIB,
            bytes_reserved: 0
        }
    );
}

async fn a_failed_forced_delete_changes_nothing(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice, "Film").await;
    let used = asset(store, &film.id, &alice, MIB).await;
    let doc = document("Film", &[("a", &used.id)], &[]);
    store.replace_timeline(&film.id, &doc, None).await.unwrap();
    // Break the accounting, so giving the bytes back (the last step) fails.
    db.exec_raw(&["DELETE FROM usage WHERE user_id = 'alice'"])
        .await;

    let outcome = store.delete_asset_in_timeline(&used.id, true).await;
    assert!(
        matches!(outcome, Err(AssetRemovalError::Db(DbError::Corrupt(_)))),
        "{outcome:?}"
    );
    // The clip removal went back with the rest: one transaction.
    let stored = store.timeline(&film.id).await.unwrap();
    assert_eq!((stored.document, stored.version), (doc, 2));
    assert!(store.asset(&used.id).await.unwrap().is_some());
}

async fn deleting_an_unused_asset_leaves_the_timeline_alone(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let film = project(store, &alice, "Film").await;
    let kept = asset(store, &film.id, &alice, MIB).await;
    let unused = asset(store, &film.id, &alice, MIB).await;
    let doc = document("Film", &[("a", &kept.id)], &[]);
    store.replace_timeline(&film.id, &doc, None).await.unwrap();
    for force in [false, true] {
        let unused = if force {
            asset(store, &film.id, &alice, MIB).await
        } else {
            unused.clone()
        };
        let removal = store
            .delete_asset_in_timeline(&unused.id, force)
            .await
            .unwrap();
        assert!(removal.removed_clips.is_empty());
        assert_eq!(removal.timeline_version, None);
        assert_eq!(store.asset(&unused.id).await.unwrap(), None);
    }
    let stored = store.timeline(&film.id).await.unwrap();
    assert_eq!((stored.document, stored.version), (doc, 2));
    assert_eq!(store.usage(&alice).await.unwrap().bytes_used, MIB);

    // A project whose timeline was never read or written has no clips either.
    let fresh = project(store, &alice, "Fresh").await;
    let lone = asset(store, &fresh.id, &alice, MIB).await;
    store
        .delete_asset_in_timeline(&lone.id, false)
        .await
        .unwrap();
    assert_eq!(store.timeline(&fresh.id).await.unwrap().version, 1);
}

async fn deleting_a_missing_asset_is_not_found(db: TestDb) {
    for force in [false, true] {
        let outcome = db
            .store
            .delete_asset_in_timeline(&AssetId::generate(), force)
            .await;
        assert!(
            matches!(outcome, Err(AssetRemovalError::Db(DbError::NotFound))),
            "{outcome:?}"
        );
    }
}

/// Timeline writes using an asset race its deletion: whichever order they land in, the
/// timeline never ends up naming an asset that is gone.
async fn a_write_and_a_delete_never_leave_a_clip_without_its_asset(db: TestDb) {
    let store = db.store.clone();
    let alice = user("alice");
    for round in 0..5 {
        let film = project(&*store, &alice, "Film").await;
        let take = asset(&*store, &film.id, &alice, MIB).await;
        let writers: Vec<_> = (0..4)
            .map(|i| {
                let store = Arc::clone(&store);
                let (film, take) = (film.id.clone(), take.id.clone());
                tokio::spawn(async move {
                    let id = format!("c{i}");
                    let doc = document("Film", &[(id.as_str(), &take)], &[]);
                    match store.replace_timeline(&film, &doc, None).await {
                        Ok(_) | Err(TimelineWriteError::MissingAssets { .. }) => {}
                        Err(other) => panic!("{other:?}"),
                    }
                })
            })
            .collect();
        let deleter = {
            let store = Arc::clone(&store);
            let take = take.id.clone();
            tokio::spawn(async move {
                match store.delete_asset_in_timeline(&take, round % 2 == 0).await {
                    Ok(_) | Err(AssetRemovalError::InUse { .. }) => {}
                    Err(other) => panic!("{other:?}"),
                }
            })
        };
        for writer in writers {
            writer.await.unwrap();
        }
        deleter.await.unwrap();
        let stored = store.timeline(&film.id).await.unwrap();
        let exists = store.asset(&take.id).await.unwrap().is_some();
        let used = stored
            .document
            .clips()
            .any(|(_, _, clip)| clip.asset_id.as_deref() == Some(take.id.as_str()));
        assert!(
            exists || !used,
            "round {round}: a clip names a deleted asset"
        );
    }
}
