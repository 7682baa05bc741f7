//! What only the Redis engine has to get right: jobs recorded in the table without going through
//! the queue (the outbox `confirm_upload` writes) reach BullMQ through the relay; BullMQ's copy
//! carries our id, kind and payload (so Bull Board and Node tools see real jobs); a job BullMQ
//! delivers again after it finished does not run again; a job the table does not know is failed
//! in BullMQ, never run.

use std::time::Duration;

use serde_json::json;
use studio_core::JobId;
use studio_db::{EnqueueOptions, NewJob};
use studio_queue::{JobOptions, JobQueue as _, JobState, RedisEngine, RedisQueue};

use crate::runtime::{
    Behaviour, KIND, Running, Runs, config, enqueue, eventually, registry, until_state,
};
use crate::support::{TestDb, backend_tests};

backend_tests!(
    redis only:
    a_job_recorded_in_the_table_is_relayed_to_bullmq_and_runs,
    a_job_delivered_again_after_it_finished_does_not_run_again,
    a_job_the_table_does_not_know_is_failed_in_bullmq_not_run,
    jobs_are_recorded_while_redis_is_away_and_wait_in_the_outbox,
);

/// A BullMQ handle on the test's queue of `kind`, as a tool watching it would open.
async fn bull_queue(db: &TestDb, kind: &str) -> bullmq::Queue {
    let settings = db.redis();
    bullmq::Queue::with_options(
        kind,
        bullmq::QueueOptions {
            connection: bullmq::options::RedisConnectionOptions::new().url(settings.url.clone()),
            prefix: settings.prefix.clone(),
            ..bullmq::QueueOptions::default()
        },
    )
    .await
    .unwrap()
}

async fn a_job_recorded_in_the_table_is_relayed_to_bullmq_and_runs(db: TestDb) {
    // Recorded straight into the table, as `confirm_upload` does in its transaction: no
    // `enqueue` hands it over, only the relay can.
    let id = JobId::generate();
    db.store
        .enqueue(
            NewJob {
                id: id.clone(),
                kind: KIND.to_owned(),
                payload: r#"{"asset":"ast_1"}"#.to_owned(),
                idempotency_key: "outbox-1".to_owned(),
                request_id: Some("req-outbox".to_owned()),
            },
            EnqueueOptions::default(),
        )
        .await
        .unwrap();
    let queue = db.queue().await; // starts the relay
    eventually("the relay to hand the job over", || async {
        db.store
            .unrelayed_jobs(10)
            .await
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
    let bull = bull_queue(&db, KIND).await;
    let copy = bull
        .get_job(id.as_str())
        .await
        .unwrap()
        .expect("BullMQ has the job");
    assert_eq!(copy.name(), KIND);
    assert_eq!(copy.data(), &json!({ "asset": "ast_1" }));

    let runs = Runs::default();
    let worker = Running::start(
        db.open_again().await,
        registry("w", &runs, Behaviour::Succeed),
        config(&db, "w"),
    );
    let done = until_state(&*queue, &id, JobState::Completed).await;
    assert_eq!(done.attempts, 1);
    assert_eq!(runs.of(&id).len(), 1);
    let state = eventually("BullMQ to record the completion", || async {
        let state = bull.get_job_state(id.as_str()).await.unwrap();
        (state == bullmq::JobState::Completed).then_some(state)
    })
    .await;
    assert_eq!(state, bullmq::JobState::Completed);
    worker.stop().await;
}

async fn a_job_delivered_again_after_it_finished_does_not_run_again(db: TestDb) {
    let queue = db.queue().await;
    let id = enqueue(&*queue, JobOptions::default()).await;
    let runs = Runs::default();
    let worker = Running::start(
        db.store.clone(),
        registry("w", &runs, Behaviour::Succeed),
        config(&db, "w"),
    );
    until_state(&*queue, &id, JobState::Completed).await;
    let bull = bull_queue(&db, KIND).await;
    eventually("BullMQ to record the completion", || async {
        (bull.get_job_state(id.as_str()).await.unwrap() == bullmq::JobState::Completed)
            .then_some(())
    })
    .await;

    // BullMQ forgets it (retention) and a second relay, racing the first, hands it over again.
    assert!(bull.remove(id.as_str()).await.unwrap());
    bull.add(KIND, json!({ "n": 1 }))
        .job_id(id.as_str())
        .await
        .unwrap();
    eventually("BullMQ to settle the re-delivered job", || async {
        (bull.get_job_state(id.as_str()).await.unwrap() == bullmq::JobState::Completed)
            .then_some(())
    })
    .await;
    worker.stop().await;
    assert_eq!(runs.of(&id).len(), 1, "the table refused to run it twice");
    let job = queue.status(&id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Completed);
    assert_eq!(job.attempts, 1);
}

async fn a_job_the_table_does_not_know_is_failed_in_bullmq_not_run(db: TestDb) {
    let runs = Runs::default();
    let worker = Running::start(
        db.store.clone(),
        registry("w", &runs, Behaviour::Succeed),
        config(&db, "w"),
    );
    let bull = bull_queue(&db, KIND).await;
    // A producer that bypassed studio: one with a foreign id, one with an id of ours the table
    // never recorded.
    let foreign = bull.add(KIND, json!({})).job_id("order-42").await.unwrap();
    let stray = JobId::generate();
    bull.add(KIND, json!({}))
        .job_id(stray.as_str())
        .await
        .unwrap();
    for id in [foreign.id().to_owned(), stray.as_str().to_owned()] {
        let failed = eventually("BullMQ to fail the job", || async {
            let job = bull.get_job(&id).await.unwrap()?;
            (!job.failed_reason().is_empty()).then_some(job)
        })
        .await;
        assert_eq!(
            bull.get_job_state(&id).await.unwrap(),
            bullmq::JobState::Failed
        );
        assert!(
            failed.failed_reason().contains("job"),
            "{}",
            failed.failed_reason()
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    worker.stop().await;
    assert!(runs.of(&stray).is_empty());
    assert!(db.store.queue_job(&stray).await.unwrap().is_none());
}

async fn jobs_are_recorded_while_redis_is_away_and_wait_in_the_outbox(db: TestDb) {
    // Nothing listens on port 1: every Redis call fails at once.
    let away = RedisEngine {
        prefix: db.redis().prefix.clone(),
        ..RedisEngine::new("redis://127.0.0.1:1")
    };
    let queue = RedisQueue::connect(db.store.clone(), away)
        .await
        .expect("the queue opens without Redis");
    let id = queue
        .enqueue(KIND, json!({ "n": 1 }), JobOptions::default())
        .await
        .expect("the job is recorded");
    let job = queue.status(&id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Queued);
    let owed: Vec<JobId> = db
        .store
        .unrelayed_jobs(10)
        .await
        .unwrap()
        .into_iter()
        .map(|job| job.id)
        .collect();
    assert_eq!(
        owed,
        std::slice::from_ref(&id),
        "the relay still owes it to BullMQ"
    );

    // Redis is back (the test's own): the relay hands it over and a worker runs it.
    let queue = db.queue().await;
    let runs = Runs::default();
    let worker = Running::start(
        db.store.clone(),
        registry("w", &runs, Behaviour::Succeed),
        config(&db, "w"),
    );
    until_state(&*queue, &id, JobState::Completed).await;
    worker.stop().await;
    assert_eq!(runs.of(&id).len(), 1);
}
