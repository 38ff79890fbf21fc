//! A provider that rate-limits (429 with Retry-After) or hangs: the call is retried, after the
//! wait the provider asked for, or after the per-call timeout; the turn completes once.

use std::time::Duration;

use serde_json::{json, Value};
use testkit::client::message;
use testkit::{FakeLlm, Stack, StackOptions};

fn chat(text: &str) -> Value {
    json!([{ "kind": "text", "text": text }])
}

async fn stack_with(llm: &FakeLlm, extra: &[(&str, &str)]) -> Stack {
    let mut env = llm.env("gemini");
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Stack::start(StackOptions {
        workers: 1,
        worker_env: env,
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let llm = FakeLlm::start().await;
    let stack = stack_with(&llm, &[]).await;
    llm.fail_next(1, 429, Some(2));
    let task = stack.client("limited").send(message(chat("cookies"), None), true).await;
    assert_eq!(task["status"]["state"], "completed", "{task}");
    let received = llm.received();
    assert_eq!(received.len(), 3, "the refused call, its retry, and the answer step");
    let waited = received[1].at - received[0].at;
    assert!(waited >= Duration::from_millis(1900), "the retry waited out Retry-After: {waited:?}");
    assert_eq!(task["metadata"]["usage"]["model_calls"], 2, "only answered calls count");
}

#[tokio::test]
async fn a_hung_call_hits_the_timeout_and_is_retried() {
    let llm = FakeLlm::start().await;
    let stack = stack_with(&llm, &[("LLM_TIMEOUT", "1")]).await;
    llm.hang_next(1);
    let task = stack.client("hung").send(message(chat("cookies"), None), true).await;
    assert_eq!(task["status"]["state"], "completed", "{task}");
    let received = llm.received();
    assert_eq!(received.len(), 3, "the hung call, its retry, and the answer step");
    let waited = received[1].at - received[0].at;
    assert!(waited >= Duration::from_millis(1000), "the retry came after the timeout: {waited:?}");
    stack.workers[0].wait_for_log("timed out", Duration::from_secs(5)).await;
}

/// While the primary fails, the fallback provider (another dialect) answers.
#[tokio::test]
async fn the_fallback_answers_while_the_primary_is_down() {
    let primary = FakeLlm::start().await;
    let fallback = FakeLlm::start().await;
    primary.fail_all(testkit::fake_llm::Fault::Status {
        status: 503,
        retry_after: None,
    });
    let mut env = primary.env("gemini");
    env.extend([
        ("LLM_FALLBACK".to_owned(), "openai".to_owned()),
        ("LLM_FALLBACK_BASE_URL".to_owned(), fallback.openai_url()),
        ("OPENAI_API_KEY".to_owned(), "fake-openai-key".to_owned()),
        ("LLM_ATTEMPTS".to_owned(), "1".to_owned()),
        ("LLM_BREAKER_FAILURES".to_owned(), "2".to_owned()),
        ("LLM_BREAKER_COOLDOWN".to_owned(), "60".to_owned()),
    ]);
    let stack = Stack::start(StackOptions {
        workers: 1,
        worker_env: env,
        ..Default::default()
    })
    .await;
    let client = stack.client("resilient");
    for i in 0..3 {
        let task = client.send(message(chat(&format!("cookies {i}")), Some("fallback-ctx")), true).await;
        assert_eq!(task["status"]["state"], "completed", "{task}");
    }
    assert_eq!(fallback.answered(), 6, "the fallback answered every model call");
    assert_eq!(primary.received().len(), 2, "the primary was skipped once its circuit opened");
}
