//! Discovery and health: the agent card and UCP profile describe this deployment and are
//! cacheable; liveness and readiness answer.

use serde_json::Value;
use testkit::{Stack, StackOptions};

/// The agent card advertises PUBLIC_URL, protocol 0.3, the UCP extension and bearer JWT, with
/// an ETag that a conditional GET honours.
#[tokio::test]
async fn agent_card_and_ucp_profile_describe_the_deployment() {
    let stack = Stack::start(StackOptions::with_workers(1)).await;
    let http = reqwest::Client::new();
    let response = http
        .get(format!("{}/.well-known/agent-card.json", stack.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cache_control = response.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(cache_control.contains("max-age"), "{cache_control}");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let card: Value = response.json().await.unwrap();
    assert_eq!(card["url"], format!("{}/", stack.base_url));
    assert_eq!(card["protocolVersion"], "0.3.0");
    assert_eq!(card["preferredTransport"], "JSONRPC");
    assert_eq!(card["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(card["securitySchemes"]["apiKey"]["name"], "X-API-Key");
    assert_eq!(card["security"], serde_json::json!([{"bearer": []}, {"apiKey": []}]), "exactly what is accepted");
    assert_eq!(
        card["capabilities"]["extensions"][0]["uri"],
        testkit::client::EXTENSION_URI
    );

    let again = http
        .get(format!("{}/.well-known/agent-card.json", stack.base_url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    let profile: Value = http
        .get(format!("{}/.well-known/ucp", stack.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        profile["ucp"]["services"]["dev.ucp.shopping"]["a2a"]["endpoint"],
        format!("{}/.well-known/agent-card.json", stack.base_url)
    );
    let names: Vec<&str> = profile["ucp"]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "dev.ucp.shopping.checkout",
            "dev.ucp.shopping.fulfillment",
            "dev.ucp.shopping.discount",
            "dev.ucp.shopping.buyer_consent",
            "dev.ucp.shopping.order"
        ]
    );
    assert_eq!(
        profile["ucp"]["services"]["dev.ucp.shopping"]["rest"]["endpoint"],
        format!("{}/", stack.base_url),
        "the REST binding is served at the root of PUBLIC_URL"
    );
    assert_eq!(profile["payment"]["handlers"][0]["id"], "example_payment_provider");

    let image = http
        .get(format!("{}/images/cookies.jpg", stack.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(image.status(), 200);
}

/// /health answers without dependencies; /ready says 503 with a reason once NATS is gone and
/// 200 again when it is back.
#[tokio::test]
async fn readiness_follows_nats() {
    let mut stack = Stack::start(StackOptions::with_workers(1)).await;
    let http = reqwest::Client::new();
    let health = http.get(format!("{}/health", stack.base_url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    stack.nats.stop().await;
    let url = format!("{}/ready", stack.base_url);
    let body: Value = testkit::eventually(std::time::Duration::from_secs(20), "/ready to answer 503", || {
        let request = http.get(&url).send();
        async move {
            let response = request.await.ok()?;
            (response.status() == 503).then_some(())?;
            response.json().await.ok()
        }
    })
    .await;
    assert_eq!(body["status"], "not_ready");
    assert!(body["reasons"].to_string().contains("NATS"), "{body}");
    stack.nats.start_again().await;
    testkit::eventually(std::time::Duration::from_secs(30), "/ready to answer 200 again", || {
        let request = http.get(&url).send();
        async move { request.await.ok().filter(|r| r.status() == 200).map(|_| ()) }
    })
    .await;
}
