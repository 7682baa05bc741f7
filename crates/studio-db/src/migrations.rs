//! Embedded migrations: turning a backend's hand-written list into a sqlx [`Migrator`], and the
//! test helper that keeps such a list in step with its directory.
//!
//! Each backend owns its list (`MIGRATIONS` in `sqlite.rs` and `postgres.rs`, pointing into
//! `migrations/sqlite` and `migrations/postgres`); only the machinery around the lists is shared.
//!
//! The lists are written by hand because sqlx 0.9's `migrate!` macro needs sqlx's `macros`
//! feature, which the workspace leaves off. sqlx checksums the SQL text either way, so databases
//! migrated by either form (or by `sqlx-cli`) agree; the test helper `assert_embeds_every_file`
//! checks a list against its directory so a new file cannot be forgotten.

use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// Embedded migrations as (version, description, SQL), in version order: the version and
/// description as sqlx derives them from a file name `<version>_<description>.sql` (underscores
/// in the description read as spaces), the SQL as `include_str!` of that file.
pub(crate) type MigrationList = &'static [(i64, &'static str, &'static str)];

/// A migrator running `list` as simple (up-only) migrations.
pub(crate) fn migrator(list: MigrationList) -> Migrator {
    Migrator::with_migrations(
        list.iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    false,
                )
            })
            .collect(),
    )
}

/// Panics unless `list` embeds exactly the files of `dir` (relative to the crate root), with the
/// version, description and SQL text sqlx would read from each.
#[cfg(test)]
pub(crate) fn assert_embeds_every_file(list: MigrationList, dir: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut on_disk: Vec<(i64, String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let (version, description) = stem.split_once('_').unwrap();
            let sql = std::fs::read_to_string(&path).unwrap();
            (version.parse().unwrap(), description.replace('_', " "), sql)
        })
        .collect();
    on_disk.sort();
    let embedded: Vec<(i64, String, String)> = list
        .iter()
        .map(|&(version, description, sql)| (version, description.to_owned(), sql.to_owned()))
        .collect();
    assert_eq!(
        embedded,
        on_disk,
        "embedded migrations vs {}",
        dir.display()
    );
}
