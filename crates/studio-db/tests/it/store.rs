//! The `Store` contract, checked against both backends.
//!
//! Each check is written once as `async fn(TestDb)`; `backend_tests!` (see `support`) turns the
//! list into one `#[tokio::test]` per backend, in `store::sqlite` and `store::postgres`, each on
//! a fresh database removed when the test ends. `STUDIO_TEST_BACKEND=sqlite|postgres` limits a
//! run to one backend.

use sqlx::Connection;
use studio_core::{MemberRole, ProjectId, ProjectName, ProjectRole, UserId};
use studio_db::{
    DbError, MigrateMode, NewProject, Page, PageCursor, ProjectPatch, ProjectRecord,
    ProjectWithRole, Store,
};
use time::OffsetDateTime;

use crate::support::{Kind, TestDb, backend_tests, run};

backend_tests!(
    worker_threads = 2;
    ping_names_the_backend,
    create_then_get_as_owner,
    strangers_and_missing_projects_look_the_same,
    unknown_users_are_on_the_free_plan,
    members_are_upserted_listed_and_removed,
    put_member_on_a_missing_project_is_not_found,
    listing_pages_newest_first_including_shared_projects,
    listing_is_empty_for_a_user_without_projects,
    listing_with_limit_zero_only_says_whether_more_follow,
    update_renames_and_bumps_updated_at,
    delete_cascades_to_members,
    migrating_twice_is_idempotent,
    concurrent_writes_all_succeed,
    corrupt_rows_are_errors_not_panics,
);

// ---- helpers -------------------------------------------------------------------------------

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

async fn create(store: &dyn Store, owner: &UserId, name: &str) -> ProjectRecord {
    store
        .create_project(NewProject {
            id: ProjectId::generate(),
            owner_id: owner.clone(),
            name: ProjectName::parse(name).unwrap(),
        })
        .await
        .unwrap()
}

/// Pages through everything `user` sees, `limit` at a time, cursors going through their
/// encoded form as they would through a client.
async fn all_pages(store: &dyn Store, user: &UserId, limit: u32) -> Vec<Page<ProjectWithRole>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_projects_for_user(user, after, limit)
            .await
            .unwrap();
        let next = page
            .next
            .map(|cursor| PageCursor::decode(&cursor.encode()).unwrap());
        pages.push(page);
        match next {
            Some(cursor) => after = Some(cursor),
            None => return pages,
        }
        assert!(pages.len() < 100, "pagination does not end");
    }
}

fn names_and_roles(page: &Page<ProjectWithRole>) -> Vec<(String, ProjectRole)> {
    page.items
        .iter()
        .map(|item| (item.project.name.clone(), item.role))
        .collect()
}

fn assert_recent(at: OffsetDateTime) {
    let age = OffsetDateTime::now_utc() - at;
    assert!(
        age.whole_seconds().abs() < 60,
        "{at} is not close to the current time"
    );
}

// ---- the contract --------------------------------------------------------------------------

async fn ping_names_the_backend(db: TestDb) {
    db.store.ping().await.unwrap();
    assert_eq!(db.store.backend(), db.kind.name());
}

async fn create_then_get_as_owner(db: TestDb) {
    let alice = user("alice");
    let created = create(&*db.store, &alice, "  Cats  ").await;
    assert_eq!(created.owner_id, alice);
    assert_eq!(created.name, "Cats");
    assert_eq!(created.created_at, created.updated_at);
    assert_recent(created.created_at);

    let got = db
        .store
        .project_for_user(&created.id, &alice)
        .await
        .unwrap()
        .expect("the owner sees the project");
    // Timestamps included: what the write returned is exactly what reads back.
    assert_eq!(got.project, created);
    assert_eq!(got.role, ProjectRole::Owner);
}

async fn strangers_and_missing_projects_look_the_same(db: TestDb) {
    let alice = user("alice");
    let project = create(&*db.store, &alice, "Private").await;
    let stranger = db
        .store
        .project_for_user(&project.id, &user("mallory"))
        .await
        .unwrap();
    let missing = db
        .store
        .project_for_user(&ProjectId::generate(), &alice)
        .await
        .unwrap();
    assert_eq!(stranger, None);
    assert_eq!(missing, None);
}

async fn unknown_users_are_on_the_free_plan(db: TestDb) {
    let bob = user("bob");
    assert_eq!(db.store.user_plan(&bob).await.unwrap(), "free");
    db.store.ensure_user(&bob).await.unwrap();
    db.store.ensure_user(&bob).await.unwrap();
    assert_eq!(db.store.user_plan(&bob).await.unwrap(), "free");
}

async fn members_are_upserted_listed_and_removed(db: TestDb) {
    let store = &*db.store;
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    let project = create(store, &alice, "Shared").await;

    let (bob_member, created) = store
        .put_member(&project.id, &bob, MemberRole::Editor)
        .await
        .unwrap();
    assert!(created);
    assert_eq!(bob_member.user_id, bob);
    assert_eq!(bob_member.role, MemberRole::Editor);
    assert_recent(bob_member.added_at);
    let seen = store.project_for_user(&project.id, &bob).await.unwrap();
    assert_eq!(seen.map(|it| it.role), Some(ProjectRole::Editor));

    let (carol_member, created) = store
        .put_member(&project.id, &carol, MemberRole::Viewer)
        .await
        .unwrap();
    assert!(created);

    // Changing a role is an update: same member, same `added_at`, not "created".
    let (bob_again, created) = store
        .put_member(&project.id, &bob, MemberRole::Viewer)
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(bob_again.role, MemberRole::Viewer);
    assert_eq!(bob_again.added_at, bob_member.added_at);
    let seen = store.project_for_user(&project.id, &bob).await.unwrap();
    assert_eq!(seen.map(|it| it.role), Some(ProjectRole::Viewer));

    // In the order added; the owner is not a member.
    let members = store.list_members(&project.id).await.unwrap();
    assert_eq!(members, vec![bob_again.clone(), carol_member.clone()]);

    store.remove_member(&project.id, &bob).await.unwrap();
    assert_eq!(
        store.list_members(&project.id).await.unwrap(),
        vec![carol_member]
    );
    assert_eq!(
        store.project_for_user(&project.id, &bob).await.unwrap(),
        None
    );
    assert!(matches!(
        store.remove_member(&project.id, &bob).await,
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        store.remove_member(&project.id, &alice).await,
        Err(DbError::NotFound)
    ));
}

async fn put_member_on_a_missing_project_is_not_found(db: TestDb) {
    let outcome = db
        .store
        .put_member(&ProjectId::generate(), &user("bob"), MemberRole::Viewer)
        .await;
    assert!(matches!(outcome, Err(DbError::NotFound)), "{outcome:?}");
    assert!(
        db.store
            .list_members(&ProjectId::generate())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn listing_pages_newest_first_including_shared_projects(db: TestDb) {
    let store = &*db.store;
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    for name in ["a1", "a2", "a3", "a4"] {
        create(store, &alice, name).await;
    }
    let b1 = create(store, &bob, "b1").await;
    store
        .put_member(&b1.id, &alice, MemberRole::Viewer)
        .await
        .unwrap();
    create(store, &bob, "b2").await;
    create(store, &alice, "a5").await;
    let c1 = create(store, &carol, "c1").await;
    store
        .put_member(&c1.id, &alice, MemberRole::Editor)
        .await
        .unwrap();

    use ProjectRole::{Editor, Owner, Viewer};
    let expected: Vec<(String, ProjectRole)> = [
        ("c1", Editor),
        ("a5", Owner),
        ("b1", Viewer),
        ("a4", Owner),
        ("a3", Owner),
        ("a2", Owner),
        ("a1", Owner),
    ]
    .into_iter()
    .map(|(name, role)| (name.to_owned(), role))
    .collect();

    // 7 items: pages that end mid-list, exactly at its end, and past it.
    for limit in [1, 2, 3, 6, 7, 8, 100] {
        let pages = all_pages(store, &alice, limit).await;
        let expected_pages = expected.len().div_ceil(limit as usize);
        assert_eq!(pages.len(), expected_pages, "limit {limit}");
        for (index, page) in pages.iter().enumerate() {
            let last = index + 1 == pages.len();
            assert_eq!(page.next.is_none(), last, "limit {limit}, page {index}");
            if !last {
                assert_eq!(page.items.len(), limit as usize, "limit {limit}");
            }
        }
        let seen: Vec<_> = pages.iter().flat_map(names_and_roles).collect();
        assert_eq!(seen, expected, "limit {limit}");
    }

    // Bob sees his own two, not what he has no part in.
    let bobs = all_pages(store, &bob, 10).await;
    let bobs: Vec<_> = bobs.iter().flat_map(names_and_roles).collect();
    assert_eq!(
        bobs,
        vec![("b2".to_owned(), Owner), ("b1".to_owned(), Owner)]
    );

    // Losing access takes a project out of the listing.
    store.remove_member(&b1.id, &alice).await.unwrap();
    let pages = all_pages(store, &alice, 100).await;
    let names: Vec<_> = pages[0]
        .items
        .iter()
        .map(|it| it.project.name.as_str())
        .collect();
    assert_eq!(names, ["c1", "a5", "a4", "a3", "a2", "a1"]);
}

async fn listing_is_empty_for_a_user_without_projects(db: TestDb) {
    create(&*db.store, &user("alice"), "Not yours").await;
    let page = db
        .store
        .list_projects_for_user(&user("bob"), None, 10)
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.next, None);
}

async fn listing_with_limit_zero_only_says_whether_more_follow(db: TestDb) {
    let alice = user("alice");
    let empty = db
        .store
        .list_projects_for_user(&alice, None, 0)
        .await
        .unwrap();
    assert!(empty.items.is_empty());
    assert_eq!(empty.next, None);

    create(&*db.store, &alice, "One").await;
    let page = db
        .store
        .list_projects_for_user(&alice, None, 0)
        .await
        .unwrap();
    assert!(page.items.is_empty());
    // The cursor stays where the listing is, so following it loses nothing.
    let rest = db
        .store
        .list_projects_for_user(&alice, page.next, 10)
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next, None);
}

async fn update_renames_and_bumps_updated_at(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let project = create(store, &alice, "Draft").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let renamed = store
        .update_project(
            &project.id,
            ProjectPatch {
                name: Some(ProjectName::parse("Final").unwrap()),
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Final");
    assert_eq!(renamed.id, project.id);
    assert_eq!(renamed.owner_id, project.owner_id);
    assert_eq!(renamed.created_at, project.created_at);
    assert!(renamed.updated_at > project.updated_at);
    let got = store.project_for_user(&project.id, &alice).await.unwrap();
    assert_eq!(got.map(|it| it.project), Some(renamed.clone()));

    // An empty patch keeps the name and still bumps `updated_at`.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let touched = store
        .update_project(&project.id, ProjectPatch::default())
        .await
        .unwrap();
    assert_eq!(touched.name, "Final");
    assert!(touched.updated_at > renamed.updated_at);

    let missing = store
        .update_project(&ProjectId::generate(), ProjectPatch::default())
        .await;
    assert!(matches!(missing, Err(DbError::NotFound)), "{missing:?}");
}

async fn delete_cascades_to_members(db: TestDb) {
    let store = &*db.store;
    let (alice, bob) = (user("alice"), user("bob"));
    let project = create(store, &alice, "Doomed").await;
    store
        .put_member(&project.id, &bob, MemberRole::Editor)
        .await
        .unwrap();

    // No assets, so none come back (deleting assets with a project: see tests/media.rs).
    let deleted = store.delete_project(&project.id).await.unwrap();
    assert!(deleted.is_empty(), "{deleted:?}");
    assert_eq!(
        store.project_for_user(&project.id, &alice).await.unwrap(),
        None
    );
    assert_eq!(
        store.project_for_user(&project.id, &bob).await.unwrap(),
        None
    );
    assert!(
        store
            .list_projects_for_user(&bob, None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(matches!(
        store.delete_project(&project.id).await,
        Err(DbError::NotFound)
    ));

    // A project created again under the same id starts without the old memberships: they were
    // deleted, not merely hidden.
    store
        .create_project(NewProject {
            id: project.id.clone(),
            owner_id: alice.clone(),
            name: ProjectName::parse("Reborn").unwrap(),
        })
        .await
        .unwrap();
    assert!(store.list_members(&project.id).await.unwrap().is_empty());
    assert_eq!(
        store.project_for_user(&project.id, &bob).await.unwrap(),
        None
    );
}

async fn migrating_twice_is_idempotent(db: TestDb) {
    let alice = user("alice");
    let project = create(&*db.store, &alice, "Survivor").await;

    for mode in [MigrateMode::Apply, MigrateMode::Skip] {
        let again = studio_db::open(&db.url, mode).await.unwrap();
        let got = again.project_for_user(&project.id, &alice).await.unwrap();
        assert_eq!(got.map(|it| it.project), Some(project.clone()));
    }

    if db.kind == Kind::Postgres {
        // The migration bookkeeping lives in the test's schema too, not in `public`.
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let (schema, tracked): (String, i64) = sqlx::query_as(
            "SELECT current_schema(), \
                    (SELECT count(*) FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations')",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        conn.close().await.ok();
        assert!(schema.starts_with("t_"), "{schema}");
        assert_eq!(tracked, 1);
    }
}

async fn concurrent_writes_all_succeed(db: TestDb) {
    const MEMBERS: usize = 24;
    const SAME_MEMBER_RACERS: usize = 8;
    const NEW_PROJECTS: usize = 8;

    let alice = user("alice");
    let project = create(&*db.store, &alice, "Busy").await;
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..MEMBERS {
        let (store, project) = (db.store.clone(), project.id.clone());
        tasks.spawn(async move {
            let member = user(&format!("member-{index}"));
            store
                .put_member(&project, &member, MemberRole::Viewer)
                .await
                .map(|(_, created)| created)
        });
    }
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..SAME_MEMBER_RACERS {
        let (store, project) = (db.store.clone(), project.id.clone());
        racers.spawn(async move {
            store
                .put_member(&project, &user("carol"), MemberRole::Editor)
                .await
                .map(|(_, created)| created)
        });
    }
    for index in 0..NEW_PROJECTS {
        let store = db.store.clone();
        tasks.spawn(async move {
            let owner = user(&format!("owner-{index}"));
            create(&*store, &owner, "Parallel").await;
            Ok(true)
        });
    }

    while let Some(outcome) = tasks.join_next().await {
        assert!(outcome.unwrap().unwrap(), "every new member is created");
    }
    let mut created = 0;
    while let Some(outcome) = racers.join_next().await {
        created += usize::from(outcome.unwrap().unwrap());
    }
    assert_eq!(created, 1, "exactly one of the racing calls adds carol");
    let members = db.store.list_members(&project.id).await.unwrap();
    assert_eq!(members.len(), MEMBERS + 1);
}

async fn corrupt_rows_are_errors_not_panics(db: TestDb) {
    let store = &*db.store;
    let (alice, bob) = (user("alice"), user("bob"));
    let project = create(store, &alice, "Fragile").await;
    store
        .put_member(&project.id, &bob, MemberRole::Editor)
        .await
        .unwrap();

    // A role the code does not know (as a newer version might write).
    match db.kind {
        Kind::Sqlite => {
            db.exec_raw(&[
                "PRAGMA ignore_check_constraints = ON",
                "UPDATE project_members SET role = 'admin'",
            ])
            .await
        }
        Kind::Postgres => {
            db.exec_raw(&[
                "ALTER TABLE project_members DROP CONSTRAINT project_members_role_check",
                "UPDATE project_members SET role = 'admin'",
            ])
            .await
        }
    }
    let outcome = store.project_for_user(&project.id, &bob).await;
    assert!(matches!(outcome, Err(DbError::Corrupt(_))), "{outcome:?}");
    let outcome = store.list_members(&project.id).await;
    assert!(matches!(outcome, Err(DbError::Corrupt(_))), "{outcome:?}");
    let outcome = store.list_projects_for_user(&bob, None, 10).await;
    assert!(matches!(outcome, Err(DbError::Corrupt(_))), "{outcome:?}");
    // The owner's view does not read the member role.
    let outcome = store.project_for_user(&project.id, &alice).await;
    assert!(outcome.unwrap().is_some());

    // An id that is not a project id.
    db.exec_raw(&[
        "DELETE FROM project_members",
        "UPDATE projects SET id = 'not-a-project-id'",
    ])
    .await;
    let outcome = store.list_projects_for_user(&alice, None, 10).await;
    assert!(matches!(outcome, Err(DbError::Corrupt(_))), "{outcome:?}");
}

// ---- SQLite only ---------------------------------------------------------------------------

mod sqlite_only {
    use super::*;

    #[tokio::test]
    async fn timestamps_that_do_not_parse_are_corrupt() {
        run(Kind::Sqlite, |db| async move {
            let alice = user("alice");
            let project = create(&*db.store, &alice, "Old").await;
            db.exec_raw(&["UPDATE projects SET updated_at = 'last tuesday'"])
                .await;
            let outcome = db.store.project_for_user(&project.id, &alice).await;
            assert!(matches!(outcome, Err(DbError::Corrupt(_))), "{outcome:?}");
        })
        .await;
    }

    #[tokio::test]
    async fn the_database_file_and_its_directory_are_created() {
        run(Kind::Sqlite, |db| async move {
            let path = db.url.strip_prefix("sqlite://").unwrap();
            assert!(std::path::Path::new(path).is_file(), "{path} missing");
        })
        .await;
    }

    #[tokio::test]
    async fn in_memory_databases_work_across_the_pool() {
        if !Kind::Sqlite.selected() {
            return;
        }
        let store = studio_db::open("sqlite::memory:", MigrateMode::Apply)
            .await
            .unwrap();
        let alice = user("alice");
        let project = create(&*store, &alice, "Ephemeral").await;
        // Concurrent reads use several connections of the pool: all see the one database.
        let mut reads = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let (store, id, alice) = (store.clone(), project.id.clone(), alice.clone());
            reads.spawn(async move { store.project_for_user(&id, &alice).await });
        }
        while let Some(got) = reads.join_next().await {
            let got = got.unwrap().unwrap();
            assert_eq!(got.map(|it| it.project), Some(project.clone()));
        }
        // And concurrent writes wait for each other rather than fail.
        let mut writes = tokio::task::JoinSet::new();
        for index in 0..16 {
            let (store, id) = (store.clone(), project.id.clone());
            writes.spawn(async move {
                let member = user(&format!("member-{index}"));
                store.put_member(&id, &member, MemberRole::Viewer).await
            });
        }
        while let Some(outcome) = writes.join_next().await {
            outcome.unwrap().unwrap();
        }
        assert_eq!(store.list_members(&project.id).await.unwrap().len(), 16);
    }

    #[tokio::test]
    async fn urls_that_are_not_sqlite_or_postgres_are_refused() {
        let outcome = studio_db::open("mysql://localhost/studio", MigrateMode::Skip).await;
        assert!(matches!(outcome, Err(DbError::Config(_))));
    }
}
