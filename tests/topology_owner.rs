//! One owner of the JetStream topology: `cartwright-ingress migrate` creates or updates the
//! streams and consumers; a worker or ingress whose settings differ from what exists refuses to
//! start and says what differs, instead of overwriting it.

use std::time::Duration;

use testkit::process::Proc;
use testkit::{Stack, StackOptions};

#[tokio::test]
async fn a_process_with_other_settings_refuses_until_migrate_applies_them() {
    let stack = Stack::start(StackOptions::with_workers(1)).await;
    let mut env = stack.env();
    env.push(("MAX_DELIVER".to_owned(), "5".to_owned()));
    let binary = testkit::bin_dir().join("cartwright-worker");
    let refused = Proc::spawn("worker-other-settings", &binary, &[], &env);
    refused
        .wait_for_log("consumer partition-0: max_deliver is 20, this process expects 5", Duration::from_secs(30))
        .await;
    let said = refused.output();
    assert!(said.contains("run `cartwright-ingress migrate` with the intended settings"), "{said}");
    assert!(!refused.output().contains("worker started"), "{}", refused.output());

    let seed = testkit::db::seed_dir();
    let out = std::process::Command::new(testkit::bin_dir().join("cartwright-ingress"))
        .args(["migrate", "--merchant-data", seed.to_str().unwrap()])
        .envs(env.iter().cloned())
        .output()
        .expect("migrate runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let accepted = Proc::spawn("worker-new-settings", &binary, &[], &env);
    accepted.wait_for_log("worker started", Duration::from_secs(30)).await;
    // The first worker, started before, keeps running; a new one with the old settings would
    // now be refused in turn.
    let mut old = stack.env();
    old.push(("WORKER_HTTP_ADDR".to_owned(), "127.0.0.1:0".to_owned()));
    let stale = Proc::spawn("worker-old-settings", &binary, &[], &old);
    stale.wait_for_log("max_deliver is 5, this process expects 20", Duration::from_secs(30)).await;
}
