//! One trace per turn, and the ids on every log line: the ingress and a worker export over
//! OTLP/HTTP to a receiver in this test; a chat `message/send` makes one trace holding the
//! ingress's request span, the worker's turn span below it (through the NATS headers) and the
//! model calls, whose `traceparent` the (fake) provider received. The request's `X-Request-Id`
//! is answered, and it and the task id are on the log lines of the request and of the turn.
//!
//! The ingress exports only at shutdown here (a 60 s batch delay), so its spans arriving proves
//! the flush on exit; the worker exports every 200 ms.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message as _;
use serde_json::{json, Value};
use testkit::client::message;
use testkit::{eventually, FakeLlm, Stack, StackOptions};

const WAIT: Duration = Duration::from_secs(30);

/// One exported span, flattened.
#[derive(Debug, Clone)]
struct Exported {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    /// Empty for a root span.
    parent_span_id: String,
    attributes: HashMap<String, String>,
}

/// An OTLP/HTTP trace receiver (protobuf bodies) on a free port.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<Exported>>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let app = axum::Router::new()
            .route("/v1/traces", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the OTLP receiver");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn spans(&self) -> Vec<Exported> {
        self.spans.lock().unwrap().clone()
    }
}

fn text(attributes: &[KeyValue]) -> HashMap<String, String> {
    attributes
        .iter()
        .filter_map(|kv| {
            let value = match kv.value.as_ref()?.value.as_ref()? {
                AnyValue::StringValue(s) => s.clone(),
                AnyValue::IntValue(i) => i.to_string(),
                AnyValue::BoolValue(b) => b.to_string(),
                AnyValue::DoubleValue(d) => d.to_string(),
                other => format!("{other:?}"),
            };
            Some((kv.key.clone(), value))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn receive(State(receiver): State<Receiver>, body: Bytes) -> impl IntoResponse {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, "not an ExportTraceServiceRequest").into_response();
    };
    let mut spans = receiver.spans.lock().unwrap();
    for resource_spans in request.resource_spans {
        let resource = text(resource_spans.resource.as_ref().map_or(&[][..], |r| &r.attributes));
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                spans.push(Exported {
                    service: service.clone(),
                    name: span.name.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: text(&span.attributes),
                });
            }
        }
    }
    // An empty ExportTraceServiceResponse: everything accepted.
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        Vec::<u8>::new(),
    )
        .into_response()
}

/// The JSON log lines of a process.
fn log_lines(output: &str) -> Vec<Value> {
    output
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

#[tokio::test]
async fn one_trace_from_the_request_through_the_queue_to_the_model_call() {
    let (receiver, otlp_url) = Receiver::start().await;
    let llm = FakeLlm::start().await;
    let mut worker_env = llm.env("gemini");
    worker_env.push(("OTEL_BSP_SCHEDULE_DELAY".into(), "200".into()));
    let options = StackOptions {
        workers: 1,
        worker_env,
        env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), otlp_url),
            // The ingress's spans wait for the exit's flush (the worker's override this).
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "60000".into()),
        ],
        ..Default::default()
    };
    let mut stack = Stack::start(options).await;
    let client = stack.client("traced");

    // A request id the client chose is answered and used.
    let request_id = format!("test-{}", uuid::Uuid::new_v4().simple());
    let body = json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "message/send",
        "params": {
            "message": message(json!([{ "kind": "text", "text": "cookies" }]), Some("traced-context")),
            "configuration": { "blocking": true },
        },
    });
    let (status, headers, answer) = client
        .post_with_headers(body.to_string().into_bytes(), &[("x-request-id", Some(&request_id))])
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        headers.get("x-request-id").and_then(|v| v.to_str().ok()),
        Some(request_id.as_str())
    );
    let task = &answer["result"];
    assert_eq!(task["status"]["state"], "completed", "{task}");
    let task_id = task["id"].as_str().expect("task id").to_owned();

    // Without one, or with one that is not sane, the ingress makes its own.
    let get = json!({"jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"id": task_id}}).to_string();
    for sent in [None, Some("has a space"), Some(&"x".repeat(129)[..])] {
        let (status, headers, _) = client
            .post_with_headers(get.clone().into_bytes(), &[("x-request-id", sent)])
            .await;
        assert_eq!(status, StatusCode::OK);
        let made = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("a request id is always answered");
        assert!(uuid::Uuid::parse_str(made).is_ok(), "a new UUID for {sent:?}: {made}");
    }

    // The provider was called with the model call's trace context.
    let calls = llm.received();
    assert_eq!(calls.len(), 2, "a search step and the answer");
    let traceparents: Vec<String> = calls
        .iter()
        .map(|call| {
            call.headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .expect("every model call carries a traceparent")
                .to_owned()
        })
        .collect();
    let parts: Vec<&str> = traceparents[0].split('-').collect();
    assert_eq!(parts.len(), 4, "W3C traceparent: {}", traceparents[0]);
    let trace_id = parts[1].to_owned();
    assert!(
        traceparents
            .iter()
            .all(|tp| tp.split('-').nth(1) == Some(&trace_id[..])),
        "one trace: {traceparents:?}"
    );

    // The ingress's spans come with its flush at exit.
    stack.workers[0].wait_for_log("turn committed", WAIT).await;
    let worker_logs = stack.workers[0].output();
    let ingress_logs = stack.ingress.as_ref().expect("ingress").output();
    stack.stop_processes().await;
    let spans = eventually(WAIT, "the ingress's and the worker's spans of the turn's trace", || {
        let spans: Vec<Exported> = receiver
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect();
        let services = |name: &str| spans.iter().any(|s| s.service == name);
        let ready = services("cartwright-ingress") && services("cartwright-worker");
        async move { ready.then_some(spans) }
    })
    .await;
    let by_id: HashMap<&str, &Exported> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let describe = || {
        spans
            .iter()
            .map(|s| format!("{} {} {} <- {}", s.service, s.name, s.span_id, s.parent_span_id))
            .collect::<Vec<_>>()
            .join("\n")
    };

    let request = spans
        .iter()
        .find(|s| s.service == "cartwright-ingress" && s.name == "POST /")
        .unwrap_or_else(|| panic!("the ingress's request span:\n{}", describe()));
    assert_eq!(request.parent_span_id, "", "the request span is the trace's root");
    assert_eq!(request.attributes.get("request_id"), Some(&request_id), "{request:?}");
    assert_eq!(request.attributes.get("task_id"), Some(&task_id), "{request:?}");
    assert_eq!(
        request.attributes.get("http.response.status_code").map(String::as_str),
        Some("200")
    );
    assert!(
        spans.iter().any(|s| s.service == "cartwright-ingress"
            && s.name.starts_with("publish ")
            && s.parent_span_id == request.span_id),
        "the publish is a child of the request:\n{}",
        describe()
    );

    let turn = spans
        .iter()
        .find(|s| s.service == "cartwright-worker" && s.name == "turn")
        .unwrap_or_else(|| panic!("the worker's turn span:\n{}", describe()));
    assert_eq!(turn.attributes.get("task_id"), Some(&task_id), "{turn:?}");
    assert_eq!(turn.attributes.get("request_id"), Some(&request_id), "{turn:?}");
    let mut chain = vec![turn.name.clone()];
    let mut at = turn;
    while at.span_id != request.span_id {
        at = by_id.get(at.parent_span_id.as_str()).unwrap_or_else(|| {
            panic!(
                "the turn's parent chain {chain:?} stops before the request span:\n{}",
                describe()
            )
        });
        chain.push(format!("{} {}", at.service, at.name));
    }

    let model_calls: Vec<&Exported> = spans
        .iter()
        .filter(|s| s.service == "cartwright-worker" && s.name.starts_with("chat "))
        .collect();
    assert_eq!(model_calls.len(), 2, "{}", describe());
    for call in &model_calls {
        assert_eq!(call.parent_span_id, turn.span_id, "a model call is a child of the turn");
        assert_eq!(call.attributes.get("provider").map(String::as_str), Some("gemini"));
        assert_eq!(call.attributes.get("outcome").map(String::as_str), Some("ok"));
        assert!(call.attributes.contains_key("model"), "{call:?}");
    }
    for traceparent in &traceparents {
        let parent = traceparent.split('-').nth(2).unwrap_or_default();
        assert!(
            model_calls.iter().any(|c| c.span_id == parent),
            "the provider's parent span is a model-call span: {traceparent}"
        );
    }

    // The log lines of the request and of the turn carry the ids.
    let ingress_lines = log_lines(&ingress_logs);
    let accepted = ingress_lines
        .iter()
        .find(|l| l["fields"]["message"] == "task accepted" && l["span"]["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("the ingress logged the task under the request id:\n{ingress_logs}"));
    assert_eq!(accepted["span"]["task_id"], task_id.as_str(), "{accepted}");
    assert_eq!(accepted["span"]["name"], "request", "{accepted}");
    assert_eq!(accepted["trace_id"], trace_id.as_str(), "{accepted}");

    let worker_lines = log_lines(&worker_logs);
    let turn_lines: Vec<&Value> = worker_lines
        .iter()
        .filter(|l| l["span"]["task_id"] == task_id.as_str())
        .collect();
    assert!(!turn_lines.is_empty(), "the worker logged the turn:\n{worker_logs}");
    for line in &turn_lines {
        assert_eq!(
            line["span"]["request_id"],
            request_id.as_str(),
            "every line of the turn: {line}"
        );
        assert_eq!(line["span"]["context_id"], "traced-context", "{line}");
        assert_eq!(line["trace_id"], trace_id.as_str(), "{line}");
    }
    assert!(
        turn_lines.iter().any(|l| l["fields"]["message"] == "turn committed"),
        "the commit is among them:\n{worker_logs}"
    );
    eprintln!("ingress: {accepted}");
    eprintln!("worker:  {}", turn_lines.last().unwrap());
}
