//! The ingress records concurrent requests in one statement (`store::tasks::accept` with many
//! tasks). A batch must give each conversation's tasks consecutive sequence numbers in request
//! order, resolve messageIds sent before to their existing tasks, and resolve a messageId
//! repeated inside the batch to one task.

use serde_json::json;
use store::tasks::{Accepted, NewTask};
use testkit::db::TestDb;
use uuid::Uuid;

fn task(principal: &str, context_id: &str, message_id: &str) -> NewTask {
    NewTask {
        id: Uuid::new_v4(),
        principal: principal.into(),
        context_id: context_id.into(),
        message_id: message_id.into(),
        request: serde_json::from_value(json!({"kind": "message", "role": "user", "messageId": message_id,
            "parts": [{"kind": "text", "text": "hello"}]}))
        .expect("a message"),
        request_digest: message_id.as_bytes().to_vec(),
        sealed_credential: None,
        capabilities: Default::default(),
    }
}

/// (new?, seq) of each outcome, or a panic naming the failure.
fn outcomes(results: Vec<store::tasks::AcceptResult>) -> Vec<(bool, i64)> {
    results
        .into_iter()
        .map(|r| match r.expect("accepted") {
            Accepted::New(row) => (true, row.seq),
            Accepted::Existing(row) => (false, row.seq),
        })
        .collect()
}

#[tokio::test]
async fn a_batch_numbers_each_conversation_in_order() {
    let db = TestDb::create("http://localhost").await;
    let first = store::tasks::accept(&db.pool, vec![task("p", "a", "a-1")]).await;
    assert_eq!(outcomes(first), vec![(true, 1)]);

    let batch = vec![
        task("p", "a", "a-2"),
        task("p", "b", "b-1"),
        task("p", "a", "a-3"),
        task("q", "c", "qc-1"),
        task("p", "b", "b-2"),
    ];
    let accepted = outcomes(store::tasks::accept(&db.pool, batch).await);
    assert_eq!(accepted, vec![(true, 2), (true, 1), (true, 3), (true, 1), (true, 2)]);
    let last_seq: i64 = sqlx::query_scalar("SELECT last_seq FROM contexts WHERE principal = 'p' AND context_id = 'a'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(last_seq, 3, "the conversation's counter matches its tasks");

    // Another principal naming p's conversation fails alone; the rest of its batch goes in.
    let mixed = store::tasks::accept(&db.pool, vec![task("q", "a", "qa-1"), task("p", "b", "b-3")]).await;
    assert!(
        matches!(mixed[0].as_ref().map_err(|e| &**e), Err(store::Error::ForeignContext(c)) if c == "a"),
        "{:?}",
        mixed[0]
    );
    assert!(matches!(&mixed[1], Ok(Accepted::New(row)) if row.seq == 3));
}

#[tokio::test]
async fn a_batch_resolves_resent_and_repeated_message_ids_to_one_task_each() {
    let db = TestDb::create("http://localhost").await;
    let sent = store::tasks::accept(&db.pool, vec![task("p", "a", "m-1")]).await;
    assert_eq!(outcomes(sent), vec![(true, 1)]);

    let resent = vec![task("p", "a", "m-1"), task("p", "a", "m-2")];
    assert_eq!(
        outcomes(store::tasks::accept(&db.pool, resent).await),
        vec![(false, 1), (true, 2)],
        "a resent messageId returns its task and takes no sequence number"
    );

    let repeated = vec![task("p", "a", "m-3"), task("p", "a", "m-3"), task("p", "a", "m-4")];
    assert_eq!(
        outcomes(store::tasks::accept(&db.pool, repeated).await),
        vec![(true, 3), (false, 3), (true, 4)],
        "a messageId repeated within a batch makes one task"
    );
    assert_eq!(db.count("tasks").await, 4);
}

/// The first messages of a new conversation, accepted at once on separate connections, race to
/// create its context row: every one is recorded, numbered 1..n, and none fails on the row's
/// second unique key (the ingress answered such a loser "internal error").
#[tokio::test]
async fn first_messages_racing_for_a_new_conversation_are_all_recorded() {
    let db = TestDb::create("http://localhost").await;
    for round in 0..40 {
        let context = format!("race-{round}");
        let copies = (0..8).map(|i| {
            let pool = db.pool.clone();
            let task = task("p", &context, &format!("{context}-{i}"));
            async move { store::tasks::accept(&pool, vec![task]).await }
        });
        let mut seqs: Vec<i64> = futures::future::join_all(copies)
            .await
            .into_iter()
            .flat_map(outcomes)
            .map(|(new, seq)| {
                assert!(new, "each message is new");
                seq
            })
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=8).collect::<Vec<_>>(), "round {round}: one number each");
    }
}

/// Tuples read by sequential scans of `tasks`, as the statistics show them once the pool's
/// connection has flushed its counts (a backend otherwise holds them back for up to 10 s).
async fn tasks_scanned(pool: &sqlx::PgPool) -> i64 {
    sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query_scalar("SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = 'tasks'")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// PostgreSQL plans a prepared statement anew for its first five runs, then may keep one
/// generic plan for the connection's life. Chosen while `tasks` was empty, that plan reads the
/// whole table at every accept: a new deployment slowed down as it filled, until autovacuum's
/// first ANALYZE (seen in the benchmark: 67 million tuples read in 20 s). The pool plans each
/// run for the table as it is.
#[tokio::test]
async fn accepts_keep_using_the_index_as_an_empty_table_fills() {
    let db = TestDb::create("http://localhost").await;
    // One connection, so every accept below runs the same prepared statement.
    let pool = store::connect(&db.url, 1).await.expect("connect");
    let pair = |n: usize| {
        vec![
            task("p", &format!("early-{n}"), &format!("e{n}-1")),
            task("p", &format!("early-{n}"), &format!("e{n}-2")),
        ]
    };
    for n in 0..10 {
        outcomes(store::tasks::accept(&pool, pair(n)).await);
    }
    sqlx::query(
        "WITH c AS (
             INSERT INTO contexts (principal, context_id, last_seq)
             SELECT 'p', 'bulk-' || g, 1 FROM generate_series(1, 50000) g RETURNING context_id
         )
         INSERT INTO tasks (id, principal, context_id, seq, message_id, request)
         SELECT gen_random_uuid(), 'p', context_id, 1, 'm-' || context_id, '{}' FROM c",
    )
    .execute(&pool)
    .await
    .expect("fill the table");

    let before = tasks_scanned(&pool).await;
    for n in 10..20 {
        assert_eq!(
            outcomes(store::tasks::accept(&pool, pair(n)).await),
            vec![(true, 1), (true, 2)]
        );
    }
    let read = tasks_scanned(&pool).await - before;
    assert!(
        read < 50_000,
        "ten accepts read {read} tuples of tasks by sequential scan: a plan made for the empty table"
    );
}
