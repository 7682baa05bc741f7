//! The `AiUsageStore` contract, checked against both backends (harness: `support`).

use studio_core::UserId;
use studio_db::AiUsage;
use time::macros::date;

use crate::support::{TestDb, backend_tests};

backend_tests!(
    worker_threads = 4;
    a_user_never_seen_spent_nothing,
    calls_add_up_per_user_and_day,
    concurrent_calls_lose_nothing,
);

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

fn call(input: u64, output: u64, chars: u64) -> AiUsage {
    AiUsage {
        requests: 1,
        input_tokens: input,
        output_tokens: output,
        speech_characters: chars,
    }
}

async fn a_user_never_seen_spent_nothing(db: TestDb) {
    let spent = db
        .store
        .ai_usage_day(&user("nobody"), date!(2026 - 11 - 28))
        .await
        .unwrap();
    assert_eq!(spent, AiUsage::default());
}

async fn calls_add_up_per_user_and_day(db: TestDb) {
    let store = &*db.store;
    let (alice, bob) = (user("alice"), user("bob"));
    let (today, tomorrow) = (date!(2026 - 11 - 28), date!(2026 - 11 - 29));
    store
        .ai_usage_add(&alice, today, call(10, 20, 0))
        .await
        .unwrap();
    store
        .ai_usage_add(&alice, today, call(1, 2, 300))
        .await
        .unwrap();
    store
        .ai_usage_add(&alice, tomorrow, call(5, 5, 0))
        .await
        .unwrap();
    store
        .ai_usage_add(&bob, today, call(7, 0, 0))
        .await
        .unwrap();

    let spent = store.ai_usage_day(&alice, today).await.unwrap();
    assert_eq!(
        spent,
        AiUsage {
            requests: 2,
            input_tokens: 11,
            output_tokens: 22,
            speech_characters: 300
        }
    );
    assert_eq!(spent.tokens(), 33);
    assert_eq!(
        store.ai_usage_day(&alice, tomorrow).await.unwrap().tokens(),
        10
    );
    assert_eq!(store.ai_usage_day(&bob, today).await.unwrap().tokens(), 7);
}

async fn concurrent_calls_lose_nothing(db: TestDb) {
    let alice = user("alice");
    let today = date!(2026 - 11 - 28);
    let calls = (0..20).map(|_| {
        let store = db.store.clone();
        let alice = alice.clone();
        tokio::spawn(async move { store.ai_usage_add(&alice, today, call(1, 1, 1)).await })
    });
    for handle in calls.collect::<Vec<_>>() {
        handle.await.unwrap().unwrap();
    }
    let spent = db.store.ai_usage_day(&alice, today).await.unwrap();
    assert_eq!(
        spent,
        AiUsage {
            requests: 20,
            input_tokens: 20,
            output_tokens: 20,
            speech_characters: 20
        }
    );
}
