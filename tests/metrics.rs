//! `/metrics` on the ingress and on every worker, and the queue depth autoscalers read: it rises
//! with pending work while no worker runs and falls to 0 once they drain it.

use std::time::Duration;

use serde_json::json;
use testkit::client::{action, message};
use testkit::metrics::{sample, scrape};
use testkit::{eventually, Stack, StackOptions};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn queue_depth_rises_while_workers_are_stopped_and_drains_to_zero() {
    let mut stack = Stack::start(StackOptions::with_workers(1)).await;
    let client = stack.client("metered");
    let searched = client.act(json!({"action": "search_shopping_catalog", "query": "cookies"}), None).await;
    assert_eq!(searched["status"]["state"], "completed", "{searched}");
    let (_, _) = client.rpc("no/such-method", json!({})).await;

    let ingress = scrape(&stack.base_url).await;
    for series in [
        r#"cartwright_requests_total{method="message/send",outcome="ok"}"#,
        r#"cartwright_requests_total{method="unknown",outcome="method_not_found"}"#,
        r#"cartwright_request_duration_seconds_bucket{method="message/send",outcome="ok",le="+Inf"}"#,
        r#"cartwright_publish_duration_seconds_count{outcome="ok"}"#,
    ] {
        assert!(sample(&ingress, series).is_some_and(|v| v >= 1.0), "{series} missing in\n{ingress}");
    }
    let worker = stack.worker_url(0);
    let ready = reqwest::get(format!("{worker}/ready")).await.unwrap();
    assert!(ready.status().is_success(), "worker /ready: {}", ready.text().await.unwrap());
    let scraped = scrape(&worker).await;
    for series in [
        r#"cartwright_turns_total{outcome="committed"}"#,
        r#"cartwright_turn_duration_seconds_count{outcome="committed"}"#,
    ] {
        assert!(sample(&scraped, series).is_some_and(|v| v >= 1.0), "{series} missing in\n{scraped}");
    }

    // No worker: the backlog shows in the depth every process reports.
    stack.workers[0].terminate(Duration::from_secs(15)).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let add = action(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1}));
        let task = client.send(message(add, Some(&format!("metered-{i}"))), false).await;
        tasks.push(task["id"].as_str().unwrap().to_owned());
    }
    let base = stack.base_url.clone();
    eventually(WAIT, "the total queue depth to reach 20", || {
        let base = base.clone();
        async move {
            let text = scrape(&base).await;
            let total = sample(&text, "cartwright_queue_depth_total")?;
            let partitions: f64 = text
                .lines()
                .filter(|line| line.starts_with("cartwright_queue_depth{"))
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .sum();
            (total >= 20.0 && partitions == total).then_some(())
        }
    })
    .await;

    // A worker drains it.
    let index = stack.start_worker(&[]).await;
    for task in &tasks {
        client.wait_for_state(task, "completed", WAIT).await;
    }
    let worker = stack.worker_url(index);
    for url in [base.clone(), worker] {
        eventually(WAIT, &format!("{url}: the total queue depth to fall to 0"), || {
            let url = url.clone();
            async move { (sample(&scrape(&url).await, "cartwright_queue_depth_total")? == 0.0).then_some(()) }
        })
        .await;
    }
}
