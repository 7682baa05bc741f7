//! `studio storage lifecycle`: the real binary prints the bucket lifecycle configuration from its
//! settings, and with `--apply` puts it on an S3 bucket (moto: `s3s-fs` has no lifecycle API),
//! keeping rules that are not studio's; applying twice changes nothing the second time.

use std::path::Path;

use secrecy::SecretString;
use studio_storage::lifecycle::{ColdTransition, LifecycleRule, LifecycleRules, RuleFilter};
use studio_storage::s3::{S3Store, parse_rules};
use studio_testkit::moto::MotoServer;
use tokio::process::Command;

use crate::support::process::{output, studio};

/// An operator's own rule, which applying must keep.
const FOREIGN_RULE: &str = "<Rule><ID>ops-logs</ID><Filter><Prefix>logs/</Prefix></Filter>\
    <Status>Enabled</Status><Expiration><Days>90</Days></Expiration></Rule>";

/// `studio storage lifecycle [--apply]` with `env` on top of the clean test environment.
fn lifecycle(dir: &Path, env: &[(&str, String)], apply: bool) -> Command {
    let database = format!("sqlite://{}", dir.join("studio.db").display());
    let mut command = studio(dir, &database);
    command.args(["storage", "lifecycle"]);
    if apply {
        command.arg("--apply");
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn cold_env() -> Vec<(&'static str, String)> {
    vec![
        (
            "STUDIO_STORAGE_LIFECYCLE_COLD_TAG",
            "studio-tier=cold".into(),
        ),
        ("STUDIO_STORAGE_LIFECYCLE_COLD_DAYS", "30".into()),
        (
            "STUDIO_STORAGE_LIFECYCLE_COLD_STORAGE_CLASS",
            "GLACIER_IR".into(),
        ),
    ]
}

fn expected_rules(tmp_days: u32) -> LifecycleRules {
    LifecycleRules {
        tmp_prefix: "tmp/".into(),
        tmp_expiry_days: tmp_days,
        abort_multipart_days: 2,
        cold: Some(ColdTransition {
            tag_key: "studio-tier".into(),
            tag_value: "cold".into(),
            days: 30,
            storage_class: "GLACIER_IR".into(),
        }),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sorted(mut rules: Vec<LifecycleRule>) -> Vec<LifecycleRule> {
    rules.sort();
    rules
}

#[tokio::test]
async fn prints_the_configuration_and_refuses_to_apply_it_to_local_storage() {
    let dir = tempfile::tempdir().unwrap();
    let printed = output(lifecycle(dir.path(), &cold_env(), false)).await;
    assert!(printed.status.success(), "{}", text(&printed.stderr));
    // stdout is the document and nothing else, so it can be piped to a file or another tool.
    assert_eq!(text(&printed.stdout), expected_rules(1).to_xml());
    let rules: Vec<_> = parse_rules(&text(&printed.stdout))
        .into_iter()
        .map(|r| r.rule)
        .collect();
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0].filter, RuleFilter::Prefix("tmp/".into()));

    let applied = output(lifecycle(dir.path(), &[], true)).await;
    assert!(!applied.status.success());
    let stderr = text(&applied.stderr);
    assert!(stderr.contains("local directory"), "{stderr}");
    assert!(stderr.contains("S3 storage"), "{stderr}");

    let bad = output(lifecycle(
        dir.path(),
        &[("STUDIO_STORAGE_LIFECYCLE_ABORT_MULTIPART_DAYS", "1".into())],
        false,
    ))
    .await;
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("storage_lifecycle_abort_multipart_days"),
        "{}",
        text(&bad.stderr)
    );
}

#[tokio::test]
async fn applies_to_s3_keeps_other_rules_and_is_idempotent() {
    let moto = MotoServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = S3Store::from_url(
        &moto.storage_url(),
        moto.access_key().to_owned(),
        SecretString::from(moto.secret_key()),
        reqwest::Client::new(),
    )
    .unwrap();
    // An operator's rule is already there.
    let existing = format!(
        "<LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         {FOREIGN_RULE}</LifecycleConfiguration>"
    );
    store.put_lifecycle_xml(&existing).await.unwrap();

    let mut env = cold_env();
    env.extend([
        ("STUDIO_STORAGE_URL", moto.storage_url()),
        ("STUDIO_S3_ACCESS_KEY_ID", moto.access_key().to_owned()),
        ("STUDIO_S3_SECRET_ACCESS_KEY", moto.secret_key().to_owned()),
    ]);
    let run = |env: Vec<(&'static str, String)>| {
        let dir = dir.path().to_owned();
        async move { output(lifecycle(&dir, &env, true)).await }
    };
    let read_back = || async {
        let rules = store.get_lifecycle().await.unwrap();
        let (ours, theirs): (Vec<_>, Vec<_>) =
            rules.into_iter().partition(|r| r.rule.is_studio_rule());
        (
            sorted(ours.into_iter().map(|r| r.rule).collect()),
            theirs.into_iter().map(|r| r.rule.id).collect::<Vec<_>>(),
        )
    };

    let first = run(env.clone()).await;
    let stderr = text(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    assert!(stderr.contains("applied and verified (1 rule"), "{stderr}");
    assert_eq!(text(&first.stdout), expected_rules(1).to_xml());
    let (ours, theirs) = read_back().await;
    assert_eq!(ours, sorted(expected_rules(1).rules()));
    assert_eq!(theirs, ["ops-logs"]);

    // The same settings again: the bucket already matches, nothing is sent.
    let second = run(env.clone()).await;
    let stderr = text(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    assert!(stderr.contains("nothing changed"), "{stderr}");
    assert_eq!(read_back().await, (ours, theirs.clone()));

    // A changed setting replaces studio's rule, still keeping the operator's.
    env.push(("STUDIO_STORAGE_LIFECYCLE_TMP_EXPIRY_DAYS", "3".into()));
    let third = run(env).await;
    assert!(third.status.success(), "{}", text(&third.stderr));
    let (ours, theirs_after) = read_back().await;
    assert_eq!(ours, sorted(expected_rules(3).rules()));
    assert_eq!(theirs_after, theirs);
}
