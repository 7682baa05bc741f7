//! Identical requests in flight share one provider call: on one node, and across nodes
//! through Redis; the call is cancelled only when nobody listens any more.

use futures::future::join_all;
use studio_testkit::fake_ai::{FakeOpenAi, Script};
use studio_testkit::{RedisPrefix, redis_url};

use super::{GENEROUS, UiReader, app_with, ask, free_plan, header, post_chat};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_identical_requests_make_one_provider_call() {
    // The provider holds after one token, so all ten requests arrive while it is streaming.
    let fake =
        FakeOpenAi::start(Script::chat(["one", " answer", " for", " all"]).pause_after(1)).await;
    let app = app_with(&fake, |raw| free_plan(raw, GENEROUS)).await;
    let responses = join_all((0..10).map(|_| post_chat(&app, "alice", ask("same")))).await;
    let mut statuses: Vec<String> = responses.iter().map(|r| header(r, "x-cache")).collect();
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| *s == "MISS").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| *s == "COALESCED").count(),
        9,
        "{statuses:?}"
    );
    fake.release();
    let streams = join_all(responses.into_iter().map(|r| UiReader::new(r).finish())).await;
    for stream in &streams {
        assert_eq!(
            stream.text, "one answer for all",
            "every request gets every chunk from the start"
        );
        assert!(stream.done);
    }
    assert_eq!(fake.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_browser_that_leaves_cancels_the_call_unless_someone_else_listens() {
    let fake = FakeOpenAi::start(Script::chat(["a", "b", "c"]).pause_after(1)).await;
    let app = app_with(&fake, |_| {}).await;

    // Two listeners; the first leaves: the call goes on for the second.
    let first = post_chat(&app, "alice", ask("shared")).await;
    let second = post_chat(&app, "alice", ask("shared")).await;
    assert_eq!(header(&second, "x-cache"), "COALESCED");
    let mut first = UiReader::new(first);
    assert!(first.read_until(|s| s.text == "a").await);
    drop(first);
    fake.release();
    let stream = UiReader::new(second).finish().await;
    assert_eq!(stream.text, "abc");
    assert_eq!(fake.cancelled(), 0);

    // A lone listener leaves: the upstream call is cancelled, and nothing partial is cached.
    fake.set_script(Script::chat(["x", "y"]).pause_after(1));
    let alone = post_chat(&app, "alice", ask("alone")).await;
    let mut alone = UiReader::new(alone);
    assert!(alone.read_until(|s| s.text == "x").await);
    drop(alone);
    fake.wait_cancelled(1).await;
    fake.set_script(Script::chat(["x", "y"]));
    let again = post_chat(&app, "alice", ask("alone")).await;
    assert_eq!(header(&again, "x-cache"), "MISS");
    assert_eq!(UiReader::new(again).finish().await.text, "xy");
    assert_eq!(fake.requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_sharing_redis_share_calls_and_answers() {
    let keys = RedisPrefix::new();
    let fake = FakeOpenAi::start(Script::chat(["across", " nodes"]).pause_after(1)).await;
    let shared = |prefix: String| {
        move |raw: &mut studio::config::RawConfig| {
            raw.redis_url = Some(redis_url());
            raw.queue_prefix = prefix;
        }
    };
    let node_a = app_with(&fake, shared(keys.prefix.clone())).await;
    let node_b = app_with(&fake, shared(keys.prefix.clone())).await;
    // The same user on two nodes (each test app signs its own tokens).
    let on_a = post_chat(&node_a, "alice", ask("cluster")).await;
    assert_eq!(header(&on_a, "x-cache"), "MISS");
    let on_b = post_chat(&node_b, "alice", ask("cluster")).await;
    assert_eq!(header(&on_b, "x-cache"), "COALESCED");
    fake.release();
    assert_eq!(UiReader::new(on_a).finish().await.text, "across nodes");
    assert_eq!(UiReader::new(on_b).finish().await.text, "across nodes");
    assert_eq!(fake.requests(), 1);
    // The answer is in the shared cache for both.
    let later = post_chat(&node_b, "alice", ask("cluster")).await;
    assert_eq!(header(&later, "x-cache"), "HIT");
    assert_eq!(UiReader::new(later).finish().await.text, "across nodes");
    assert_eq!(fake.requests(), 1);
}
