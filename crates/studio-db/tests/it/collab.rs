//! The `CollabStore` contract, checked against both backends (harness: `support`).
//!
//! The bytes stored are opaque to the store, so the checks use arbitrary ones rather than real
//! Yjs updates.

use studio_core::{ProjectId, ProjectName, UserId};
use studio_db::{
    CollabSnapshot, DbError, LoggedUpdate, NewProject, ProjectRecord, SnapshotWrite, Store,
    StoredCollabDocument,
};

use crate::support::{TestDb, backend_tests};

const MIB: usize = 1024 * 1024;

backend_tests!(
    worker_threads = 4;
    a_new_project_has_an_empty_document,
    appended_updates_load_in_order_with_their_bytes,
    a_snapshot_removes_exactly_the_entries_it_covers,
    a_stale_snapshot_changes_nothing_and_answers_the_current_one,
    of_concurrent_snapshots_on_one_base_exactly_one_wins,
    an_unknown_project_is_not_found,
    deleting_the_project_deletes_its_document,
    appending_nothing_writes_nothing,
    big_updates_round_trip,
    an_append_may_hold_more_updates_than_one_statement,
);

// ---- helpers -------------------------------------------------------------------------------

fn alice() -> UserId {
    UserId::parse("alice").unwrap()
}

async fn project(store: &dyn Store) -> ProjectRecord {
    store
        .create_project(NewProject {
            id: ProjectId::generate(),
            owner_id: alice(),
            name: ProjectName::parse("Film").unwrap(),
        })
        .await
        .unwrap()
}

/// Distinct bytes per `n`, of varying length.
fn update(n: usize) -> Vec<u8> {
    format!("update {n}").into_bytes()
}

/// `len` bytes that are not all alike, so a truncation or a shuffle would show.
fn big(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_add(salt))
        .collect()
}

fn logged(seqs: &[i64], updates: &[Vec<u8>]) -> Vec<LoggedUpdate> {
    assert_eq!(seqs.len(), updates.len());
    seqs.iter()
        .zip(updates)
        .map(|(&seq, update)| LoggedUpdate {
            seq,
            update: update.clone(),
        })
        .collect()
}

fn assert_increasing(seqs: &[i64]) {
    assert!(
        seqs.windows(2).all(|pair| pair[0] < pair[1]),
        "not increasing: {seqs:?}"
    );
}

// ---- the contract --------------------------------------------------------------------------

async fn a_new_project_has_an_empty_document(db: TestDb) {
    let store = &*db.store;
    let film = project(store).await;
    assert_eq!(
        store.collab_load(&film.id).await.unwrap(),
        StoredCollabDocument::default()
    );
    assert!(store.collab_log(&film.id).await.unwrap().is_empty());
}

async fn appended_updates_load_in_order_with_their_bytes(db: TestDb) {
    let store = &*db.store;
    let film = project(store).await;
    let other = project(store).await;
    let first = vec![update(1), update(2), b"".to_vec()];
    let seqs = store.collab_append(&film.id, &first).await.unwrap();
    assert_eq!(seqs.len(), 3);
    assert_increasing(&seqs);
    // Another project's log is its own.
    store.collab_append(&other.id, &[update(9)]).await.unwrap();
    let second = vec![update(3)];
    let more = store.collab_append(&film.id, &second).await.unwrap();
    assert_eq!(more.len(), 1);
    assert!(more[0] > seqs[2], "{more:?} after {seqs:?}");

    let all_seqs = [seqs, more].concat();
    let wanted = logged(&all_seqs, &[first, second].concat());
    let loaded = store.collab_load(&film.id).await.unwrap();
    assert_eq!(loaded.snapshot, None);
    assert_eq!(loaded.updates, wanted);
    assert_eq!(store.collab_log(&film.id).await.unwrap(), wanted);
}

async fn a_snapshot_removes_exactly_the_entries_it_covers(db: TestDb) {
    let store = &*db.store;
    let film = project(store).await;
    let other = project(store).await;
    let seqs = store
        .collab_append(&film.id, &[update(1), update(2), update(3)])
        .await
        .unwrap();
    let theirs = store.collab_append(&other.id, &[update(9)]).await.unwrap();

    // Covers the first and the third (not "everything up to the third").
    let written = store
        .collab_snapshot(&film.id, b"state 1", &[seqs[0], seqs[2]], 0)
        .await
        .unwrap();
    assert_eq!(written, SnapshotWrite::Written { generation: 1 });
    // Appended after the snapshot was built: not covered, so it stays.
    let later = store.collab_append(&film.id, &[update(4)]).await.unwrap();
    let loaded = store.collab_load(&film.id).await.unwrap();
    assert_eq!(
        loaded.snapshot,
        Some(CollabSnapshot {
            state: b"state 1".to_vec(),
            generation: 1,
        })
    );
    assert_eq!(
        loaded.updates,
        logged(&[seqs[1], later[0]], &[update(2), update(4)])
    );

    // Entries already gone, and another project's, are ignored.
    let written = store
        .collab_snapshot(
            &film.id,
            b"state 2",
            &[seqs[0], seqs[1], theirs[0], i64::MAX],
            1,
        )
        .await
        .unwrap();
    assert_eq!(written, SnapshotWrite::Written { generation: 2 });
    let loaded = store.collab_load(&film.id).await.unwrap();
    assert_eq!(
        loaded.snapshot,
        Some(CollabSnapshot {
            state: b"state 2".to_vec(),
            generation: 2,
        })
    );
    assert_eq!(loaded.updates, logged(&later, &[update(4)]));
    assert_eq!(
        store.collab_log(&other.id).await.unwrap(),
        logged(&theirs, &[update(9)])
    );

    // Covering nothing still writes a new generation.
    let written = store
        .collab_snapshot(&film.id, b"state 3", &[], 2)
        .await
        .unwrap();
    assert_eq!(written, SnapshotWrite::Written { generation: 3 });
    assert_eq!(
        store.collab_log(&film.id).await.unwrap(),
        logged(&later, &[update(4)])
    );
}

async fn a_stale_snapshot_changes_nothing_and_answers_the_current_one(db: TestDb) {
    let store = &*db.store;
    let film = project(store).await;
    let seqs = store
        .collab_append(&film.id, &[update(1), update(2)])
        .await
        .unwrap();
    store
        .collab_snapshot(&film.id, b"mine", &seqs[..1], 0)
        .await
        .unwrap();
    let current = CollabSnapshot {
        state: b"mine".to_vec(),
        generation: 1,
    };
    let before = store.collab_load(&film.id).await.unwrap();

    for stale in [0, 2, 7, -1] {
        let outcome = store
            .collab_snapshot(&film.id, b"theirs", &seqs, stale)
            .await
            .unwrap();
        assert_eq!(
            outcome,
            SnapshotWrite::Stale {
                current: current.clone()
            },
            "base {stale}"
        );
    }
    assert_eq!(store.collab_load(&film.id).await.unwrap(), before);

    // No snapshot at all: generation 0, nothing to merge; nothing is written either.
    let fresh = project(store).await;
    let fresh_seqs = store.collab_append(&fresh.id, &[update(1)]).await.unwrap();
    let outcome = store
        .collab_snapshot(&fresh.id, b"theirs", &fresh_seqs, 3)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        SnapshotWrite::Stale {
            current: CollabSnapshot {
                state: Vec::new(),
                generation: 0,
            }
        }
    );
    let loaded = store.collab_load(&fresh.id).await.unwrap();
    assert_eq!(loaded.snapshot, None);
    assert_eq!(loaded.updates, logged(&fresh_seqs, &[update(1)]));
}

async fn of_concurrent_snapshots_on_one_base_exactly_one_wins(db: TestDb) {
    let store = &*db.store;
    let film = project(store).await;
    let mut base = 0;
    for round in 0..10 {
        let seqs = store
            .collab_append(&film.id, &[update(round), update(round + 100)])
            .await
            .unwrap();
        // Each writer covers a different entry: only the winner's may go.
        let left = format!("left {round}").into_bytes();
        let right = format!("right {round}").into_bytes();
        let (a, b) = tokio::join!(
            store.collab_snapshot(&film.id, &left, &seqs[..1], base),
            store.collab_snapshot(&film.id, &right, &seqs[1..], base),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let written = SnapshotWrite::Written {
            generation: base + 1,
        };
        let (state, kept) = match (&a, &b) {
            (w, SnapshotWrite::Stale { current }) if *w == written => {
                assert_eq!(current.state, left, "round {round}");
                (left, seqs[1])
            }
            (SnapshotWrite::Stale { current }, w) if *w == written => {
                assert_eq!(current.state, right, "round {round}");
                (right, seqs[0])
            }
            _ => panic!("round {round}: {a:?} and {b:?}"),
        };
        base += 1;
        let loaded = store.collab_load(&film.id).await.unwrap();
        assert_eq!(
            loaded.snapshot,
            Some(CollabSnapshot {
                state,
                generation: base,
            })
        );
        assert_eq!(
            loaded.updates.iter().map(|u| u.seq).collect::<Vec<_>>(),
            [kept],
            "round {round}"
        );
        // Fold the survivor in, so the next round starts from an empty log.
        store
            .collab_snapshot(&film.id, b"folded", &[kept], base)
            .await
            .unwrap();
        base += 1;
    }
}

async fn an_unknown_project_is_not_found(db: TestDb) {
    let store = &*db.store;
    let nowhere = ProjectId::generate();
    let outcome = store.collab_load(&nowhere).await;
    assert!(matches!(outcome, Err(DbError::NotFound)), "{outcome:?}");
    for updates in [vec![update(1)], Vec::new()] {
        let outcome = store.collab_append(&nowhere, &updates).await;
        assert!(matches!(outcome, Err(DbError::NotFound)), "{outcome:?}");
    }
    for base in [0, 1] {
        let outcome = store.collab_snapshot(&nowhere, b"state", &[1], base).await;
        assert!(matches!(outcome, Err(DbError::NotFound)), "{outcome:?}");
    }
    assert!(store.collab_log(&nowhere).await.unwrap().is_empty());
}

async fn deleting_the_project_deletes_its_document(db: TestDb) {
    let store = &*db.store;
    let film = project(store).await;
    let kept = project(store).await;
    let seqs = store
        .collab_append(&film.id, &[update(1), update(2)])
        .await
        .unwrap();
    store
        .collab_snapshot(&film.id, b"state", &seqs[..1], 0)
        .await
        .unwrap();
    let kept_seqs = store.collab_append(&kept.id, &[update(3)]).await.unwrap();

    store.delete_project(&film.id).await.unwrap();
    let outcome = store.collab_load(&film.id).await;
    assert!(matches!(outcome, Err(DbError::NotFound)), "{outcome:?}");
    assert!(store.collab_log(&film.id).await.unwrap().is_empty());
    let outcome = store.collab_append(&film.id, &[update(4)]).await;
    assert!(matches!(outcome, Err(DbError::NotFound)), "{outcome:?}");

    // A project created again under the same id starts with an empty document: the old one was
    // deleted, not merely hidden.
    store
        .create_project(NewProject {
            id: film.id.clone(),
            owner_id: alice(),
            name: ProjectName::parse("Reborn").unwrap(),
        })
        .await
        .unwrap();
    assert_eq!(
        store.collab_load(&film.id).await.unwrap(),
        StoredCollabDocument::default()
    );
    // And may snapshot from scratch.
    assert_eq!(
        store
            .collab_snapshot(&film.id, b"new", &[], 0)
            .await
            .unwrap(),
        SnapshotWrite::Written { generation: 1 }
    );
    // Other projects are untouched.
    assert_eq!(
        store.collab_log(&kept.id).await.unwrap(),
        logged(&kept_seqs, &[update(3)])
    );
}

async fn appending_nothing_writes_nothing(db: TestDb) {
    let store = &*db.store;
    let film = project(store).await;
    assert!(store.collab_append(&film.id, &[]).await.unwrap().is_empty());
    assert!(store.collab_log(&film.id).await.unwrap().is_empty());
    let seqs = store.collab_append(&film.id, &[update(1)]).await.unwrap();
    assert!(store.collab_append(&film.id, &[]).await.unwrap().is_empty());
    assert_eq!(
        store.collab_load(&film.id).await.unwrap(),
        StoredCollabDocument {
            snapshot: None,
            updates: logged(&seqs, &[update(1)]),
        }
    );
}

async fn big_updates_round_trip(db: TestDb) {
    let store = &*db.store;
    let film = project(store).await;
    let updates = vec![big(MIB, 0), big(MIB + 1, 7)];
    let seqs = store.collab_append(&film.id, &updates).await.unwrap();
    assert_eq!(
        store.collab_log(&film.id).await.unwrap(),
        logged(&seqs, &updates)
    );
    let state = big(2 * MIB + 3, 42);
    store
        .collab_snapshot(&film.id, &state, &seqs[..1], 0)
        .await
        .unwrap();
    let loaded = store.collab_load(&film.id).await.unwrap();
    assert_eq!(
        loaded.snapshot,
        Some(CollabSnapshot {
            state,
            generation: 1,
        })
    );
    assert_eq!(loaded.updates, logged(&seqs[1..], &updates[1..]));
}

async fn an_append_may_hold_more_updates_than_one_statement(db: TestDb) {
    let store = &*db.store;
    let film = project(store).await;
    let updates: Vec<Vec<u8>> = (0..1203).map(update).collect();
    let seqs = store.collab_append(&film.id, &updates).await.unwrap();
    assert_eq!(seqs.len(), updates.len());
    assert_increasing(&seqs);
    assert_eq!(
        store.collab_load(&film.id).await.unwrap().updates,
        logged(&seqs, &updates)
    );
    // One snapshot folds them all in, whatever their number.
    store
        .collab_snapshot(&film.id, b"all", &seqs, 0)
        .await
        .unwrap();
    assert!(store.collab_log(&film.id).await.unwrap().is_empty());
}
