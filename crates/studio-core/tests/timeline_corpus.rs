//! The timeline fixture corpus (`tests/fixtures/timeline`, see its README), judged three ways:
//! by the server ([`timeline::parse_and_validate`]), by an independent JSON Schema validator
//! (ajv, `tests/schema/check.mjs`) given the schema the server publishes, and by the generated
//! Zod schema of `clients/typescript` (`clients/typescript/test/check.mjs`, which also fails when
//! the generated client is stale).
//!
//! Together they show that every document the server accepts, the schema accepts; that the shape
//! errors the schema can express, it rejects; and that the schema refuses nothing the server
//! would only refuse for a rule (`"schema": "accept"` fixtures).
//!
//! The node tests need `npm ci` in `tests/schema` and `clients/typescript` (`make deps`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde_json::Value;
use studio_core::AssetKind;
use studio_core::timeline::{self, AssetFacts, TimelineLimits, ViolationCode};

/// Fewer fixtures than this means the corpus was not found or lost files, not that it is small.
const MIN_VALID_FIXTURES: usize = 8;
const MIN_INVALID_FIXTURES: usize = 25;

/// The codes no fixture can carry: a fixture is JSON, so it cannot be not-JSON. They are
/// covered by `tests/timeline.rs` (`what_is_not_json_is_one_clear_error`).
const CODES_WITHOUT_FIXTURES: &[ViolationCode] = &[ViolationCode::InvalidJson];

/// Every code, so the corpus can be checked to cover them (a new code fails the coverage test
/// until it is added here and given a fixture).
const ALL_CODES: &[ViolationCode] = &[
    ViolationCode::InvalidJson,
    ViolationCode::DocumentTooLarge,
    ViolationCode::UnsupportedSchemaVersion,
    ViolationCode::UnknownField,
    ViolationCode::MissingField,
    ViolationCode::UnexpectedField,
    ViolationCode::InvalidType,
    ViolationCode::OutOfRange,
    ViolationCode::InvalidLength,
    ViolationCode::InvalidFormat,
    ViolationCode::InvalidValue,
    ViolationCode::NegativeTime,
    ViolationCode::NonPositiveDuration,
    ViolationCode::DuplicateId,
    ViolationCode::BeyondMaxLength,
    ViolationCode::ClipOverlap,
    ViolationCode::BeyondSource,
    ViolationCode::FadeTooLong,
    ViolationCode::AssetNotFound,
    ViolationCode::AssetKindMismatch,
    ViolationCode::TooManyTracks,
    ViolationCode::TooManyClips,
    ViolationCode::TooManyMarkers,
];

fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

fn corpus_dir() -> PathBuf {
    repo_root().join("tests/fixtures/timeline")
}

/// An entry of `assets.json`: what the fixtures assume of each asset of their project.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AssetEntry {
    kind: AssetKind,
    duration_secs: Option<f64>,
    has_audio: Option<bool>,
}

fn catalog() -> HashMap<String, AssetFacts> {
    let path = corpus_dir().join("assets.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let entries: BTreeMap<String, AssetEntry> = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not an asset catalog: {e}", path.display()));
    entries
        .into_iter()
        .map(|(id, entry)| {
            let facts = AssetFacts {
                kind: entry.kind,
                duration_secs: entry.duration_secs,
                has_audio: entry.has_audio,
            };
            (id, facts)
        })
        .collect()
}

/// What ajv must say of a fixture's document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SchemaVerdict {
    /// A shape error: the schema says it.
    Reject,
    /// A rule error: the schema cannot say it, so it must not refuse the document.
    Accept,
}

/// Limits a fixture sets instead of the defaults (for the count and size codes).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LimitsIn {
    max_duration_secs: Option<f64>,
    max_tracks: Option<usize>,
    max_clips: Option<usize>,
    max_markers: Option<usize>,
    max_document_bytes: Option<usize>,
}

impl LimitsIn {
    fn resolve(&self) -> TimelineLimits {
        let default = TimelineLimits::default();
        TimelineLimits {
            max_duration_secs: self.max_duration_secs.unwrap_or(default.max_duration_secs),
            max_tracks: self.max_tracks.unwrap_or(default.max_tracks),
            max_clips: self.max_clips.unwrap_or(default.max_clips),
            max_markers: self.max_markers.unwrap_or(default.max_markers),
            max_document_bytes: self
                .max_document_bytes
                .unwrap_or(default.max_document_bytes),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    pointer: String,
    code: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InvalidFixture {
    description: String,
    schema: SchemaVerdict,
    #[serde(default)]
    limits: LimitsIn,
    expect: Vec<Expected>,
    document: Value,
}

/// The `.json` files of `valid/` or `invalid/`, by file name, in name order.
fn fixture_files(group: &str) -> Vec<(String, String)> {
    let dir = corpus_dir().join(group);
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut files: Vec<(String, String)> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            (name, text)
        })
        .collect();
    files.sort();
    files
}

fn valid_fixtures() -> Vec<(String, Value)> {
    let files = fixture_files("valid");
    assert!(
        files.len() >= MIN_VALID_FIXTURES,
        "only {} valid fixtures in {}",
        files.len(),
        corpus_dir().display()
    );
    files
        .into_iter()
        .map(|(name, text)| {
            let document = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("valid/{name} is not JSON: {e}"));
            (name, document)
        })
        .collect()
}

fn invalid_fixtures() -> Vec<(String, InvalidFixture)> {
    let files = fixture_files("invalid");
    assert!(
        files.len() >= MIN_INVALID_FIXTURES,
        "only {} invalid fixtures in {}",
        files.len(),
        corpus_dir().display()
    );
    files
        .into_iter()
        .map(|(name, text)| {
            let fixture = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("invalid/{name} is not a fixture: {e}"));
            (name, fixture)
        })
        .collect()
}

/// The server's verdict on `document`: `Ok` or every (pointer, code), sorted.
fn server_verdict(
    document: &Value,
    limits: &TimelineLimits,
    assets: &HashMap<String, AssetFacts>,
) -> Result<timeline::Project, Vec<Expected>> {
    let bytes = serde_json::to_vec(document).unwrap();
    timeline::parse_and_validate(&bytes, limits, assets).map_err(|violations| {
        let mut found: Vec<Expected> = violations
            .into_iter()
            .map(|v| {
                assert!(
                    !v.message.is_empty(),
                    "{} {} has no message",
                    v.pointer,
                    v.code
                );
                Expected {
                    pointer: v.pointer,
                    code: v.code.as_str().to_owned(),
                }
            })
            .collect();
        found.sort();
        found
    })
}

fn show(violations: &[Expected]) -> String {
    violations
        .iter()
        .map(|v| format!("    {:?} {}", v.pointer, v.code))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_valid_fixture_is_accepted_and_round_trips() {
    let assets = catalog();
    let limits = TimelineLimits::default();
    let mut failures = Vec::new();
    for (name, document) in valid_fixtures() {
        match server_verdict(&document, &limits, &assets) {
            Ok(project) => {
                // What the server stores reads back as the same project.
                let stored = serde_json::to_value(&project).unwrap();
                match server_verdict(&stored, &limits, &assets) {
                    Ok(again) if again == project => {}
                    Ok(_) => failures.push(format!("valid/{name}: changed when stored")),
                    Err(found) => failures.push(format!(
                        "valid/{name}: refused once stored:\n{}",
                        show(&found)
                    )),
                }
            }
            Err(found) => failures.push(format!("valid/{name}: refused:\n{}", show(&found))),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_invalid_fixture_is_refused_with_exactly_its_violations() {
    let assets = catalog();
    let mut failures = Vec::new();
    for (name, fixture) in invalid_fixtures() {
        assert!(
            !fixture.description.trim().is_empty(),
            "invalid/{name}: no description"
        );
        assert!(
            !fixture.expect.is_empty(),
            "invalid/{name}: expects no violation"
        );
        let mut expected = fixture.expect.clone();
        expected.sort();
        match server_verdict(&fixture.document, &fixture.limits.resolve(), &assets) {
            Ok(_) => failures.push(format!(
                "invalid/{name}: accepted; expected:\n{}",
                show(&expected)
            )),
            Err(found) if found != expected => failures.push(format!(
                "invalid/{name}: expected:\n{}\n  found:\n{}",
                show(&expected),
                show(&found)
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_invalid_fixtures_cover_every_code() {
    let used: BTreeSet<String> = invalid_fixtures()
        .into_iter()
        .flat_map(|(_, fixture)| fixture.expect.into_iter().map(|e| e.code))
        .collect();
    let known: BTreeSet<&str> = ALL_CODES.iter().map(|code| code.as_str()).collect();
    let unknown: Vec<&String> = used
        .iter()
        .filter(|code| !known.contains(code.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "fixtures expect unknown codes: {unknown:?}"
    );
    let missing: Vec<&str> = ALL_CODES
        .iter()
        .filter(|code| !CODES_WITHOUT_FIXTURES.contains(code) && !used.contains(code.as_str()))
        .map(|code| code.as_str())
        .collect();
    assert!(missing.is_empty(), "no fixture expects {missing:?}");
}

/// `clients/typescript/project.schema.json` is what `studio schema` prints today.
#[test]
fn the_published_schema_file_is_current() {
    let path = repo_root().join("clients/typescript/project.schema.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let committed: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    assert!(
        &committed == timeline::json_schema(),
        "{} is stale: the timeline model changed. Run scripts/gen-clients.sh and commit \
         clients/typescript.",
        path.display()
    );
}

/// Runs `node <script>` in `dir` (whose `node_modules` must hold `package`), feeding it `stdin`.
fn run_node(dir: &Path, package: &str, script: &str, args: &[&str], stdin: &[u8]) -> Output {
    assert!(
        dir.join("node_modules")
            .join(package)
            .join("package.json")
            .is_file(),
        "{}/node_modules is missing: run npm ci in {0} (`make deps` does)",
        dir.strip_prefix(repo_root()).unwrap_or(dir).display()
    );
    let mut child = Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`node` runs (Node 20 or later must be installed: see README)");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().expect("node finishes");
    Output {
        success: output.status.success(),
        status: output.status.to_string(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

struct Output {
    success: bool,
    status: String,
    stdout: String,
    stderr: String,
}

/// One line of `tests/schema/check.mjs`.
#[derive(Debug, Deserialize)]
struct AjvVerdict {
    fixture: String,
    verdict: SchemaVerdict,
    /// Where ajv found errors, pointing as the server does.
    pointers: BTreeSet<String>,
    errors: Vec<String>,
}

/// ajv, given the schema the server publishes (`json_schema()`, on stdin), accepts every valid
/// fixture and every rule-error fixture, and rejects every shape-error fixture, finding an error
/// at every pointer the server reports (ajv may find more: the server reports only the version
/// of another version's document).
#[test]
fn ajv_agrees_with_the_server_on_every_fixture() {
    let schema = serde_json::to_vec(timeline::json_schema()).unwrap();
    let out = run_node(
        &repo_root().join("tests/schema"),
        "ajv",
        "check.mjs",
        &["-"],
        &schema,
    );
    let verdicts: BTreeMap<String, AjvVerdict> = out
        .stdout
        .lines()
        .map(|line| {
            let verdict: AjvVerdict = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!(
                    "check.mjs printed {line:?} ({e}); status {}:\n{}",
                    out.status, out.stderr
                )
            });
            (verdict.fixture.clone(), verdict)
        })
        .collect();

    // (fixture, what ajv must say, where the server finds shape errors)
    let mut expected: Vec<(String, SchemaVerdict, Vec<Expected>)> = valid_fixtures()
        .into_iter()
        .map(|(name, _)| (format!("valid/{name}"), SchemaVerdict::Accept, Vec::new()))
        .collect();
    expected.extend(invalid_fixtures().into_iter().map(|(name, fixture)| {
        let shape = match fixture.schema {
            SchemaVerdict::Reject => fixture.expect,
            SchemaVerdict::Accept => Vec::new(),
        };
        (format!("invalid/{name}"), fixture.schema, shape)
    }));
    let mut failures = Vec::new();
    for (fixture, want, shape) in &expected {
        let Some(got) = verdicts.get(fixture) else {
            failures.push(format!("{fixture}: ajv gave no verdict"));
            continue;
        };
        if got.verdict != *want {
            failures.push(format!(
                "{fixture}: the server's schema should {want:?} it, ajv said {:?} {:?}",
                got.verdict, got.errors
            ));
        }
        for missed in shape.iter().filter(|e| !got.pointers.contains(&e.pointer)) {
            failures.push(format!(
                "{fixture}: the server reports {} at {:?}, ajv nothing there: {:?}",
                missed.code, missed.pointer, got.errors
            ));
        }
    }
    assert_eq!(
        verdicts.len(),
        expected.len(),
        "check.mjs judged other fixtures than the corpus holds"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        out.success,
        "check.mjs failed ({}):\n{}",
        out.status, out.stderr
    );
}

/// The generated TypeScript types and Zod schema are what the generators make of the committed
/// schema today, type-check, agree with each other, and the Zod schema judges the corpus as the
/// JSON Schema does (`clients/typescript/test/check.mjs`).
#[test]
fn the_typescript_client_is_current_and_its_zod_schema_agrees() {
    let out = run_node(
        &repo_root().join("clients/typescript"),
        "zod",
        "test/check.mjs",
        &[],
        &[],
    );
    assert!(
        out.success,
        "clients/typescript/test/check.mjs failed ({}):\n{}\n{}",
        out.status, out.stdout, out.stderr
    );
}
