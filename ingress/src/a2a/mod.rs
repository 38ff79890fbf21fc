//! The A2A 0.3 JSON-RPC endpoint (`POST /`): envelope checks, then dispatch on the method name.
//!
//! - [`methods`]: one file per method.
//! - [`credentials`]: payment credentials sealed before a message is stored or queued.
//! - [`fingerprint`]: a message's digest, to tell a resent messageId from a reused one.
//! - [`task_view`]: a stored task as the A2A Task object.

pub mod credentials;
pub mod fingerprint;
pub mod methods;
pub mod task_view;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::error::Error;
use crate::AppState;

/// The methods this endpoint serves. An unknown name is a value too, answered with -32601.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    MessageSend,
    TasksGet,
    TasksCancel,
    Unknown(String),
}

impl Method {
    /// The method's name as a metrics label (`unknown` for any other name: labels stay few).
    pub fn label(&self) -> &'static str {
        match self {
            Method::MessageSend => "message/send",
            Method::TasksGet => "tasks/get",
            Method::TasksCancel => "tasks/cancel",
            Method::Unknown(_) => "unknown",
        }
    }

    pub fn parse(name: &str) -> Method {
        match name {
            "message/send" => Method::MessageSend,
            "tasks/get" => Method::TasksGet,
            "tasks/cancel" => Method::TasksCancel,
            other => Method::Unknown(other.chars().take(64).collect()),
        }
    }
}

/// A successful JSON-RPC answer; `result` is already serialised.
#[derive(Serialize)]
struct Answer<'a> {
    jsonrpc: &'static str,
    id: &'a Value,
    result: &'a RawValue,
}

/// A request that passed the JSON-RPC envelope checks. Its params stay unparsed until the
/// method reads them into its own type: no JSON value tree is built for the whole request
/// (BENCHMARKS.md, issue 11).
pub struct Request<'a> {
    pub id: Value,
    pub method: Method,
    /// `None` when the request has no params or `null`.
    pub params: Option<&'a RawValue>,
}

/// The members of a JSON-RPC request, each left unparsed.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    jsonrpc: Option<&'a RawValue>,
    #[serde(default, borrow)]
    method: Option<&'a RawValue>,
    #[serde(default, borrow)]
    params: Option<&'a RawValue>,
}

/// `POST /`: authenticate, read, check the envelope, dispatch, answer; counted in the request
/// metrics by method and outcome.
pub async fn endpoint(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let started = std::time::Instant::now();
    // Boxed: the answer's future is several kilobytes, and every layer around the handler would
    // otherwise copy it when it boxes its own future (BENCHMARKS.md, issue 11).
    let (method, outcome) = Box::pin(answer(&state, &principal, &headers, body)).await;
    let kind = outcome.as_ref().err().map_or("ok", |(_, error)| error.kind());
    crate::metrics::request(method, kind, started.elapsed());
    match outcome {
        Ok(response) => response,
        Err((id, error)) => error.into_rpc_response(id),
    }
}

/// The method's name (`-` if the envelope did not parse) and the answer or the error.
async fn answer(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> (&'static str, Result<Response, (Value, Error)>) {
    if let Err(retry_after_secs) = state.rate_limiter.check_principal(&principal.0) {
        let limit = state.config.rate_limit_principal;
        let error = Error::RateLimited {
            scope: crate::rate_limit::Scope::Principal.as_str(),
            limit,
            retry_after_secs,
        };
        return ("-", Err((Value::Null, error)));
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            return ("-", Err((Value::Null, Error::BodyTooLarge(state.config.max_body_bytes))));
        }
        Err(rejection) => {
            let error = Error::InvalidRequest(format!("could not read the body: {}", rejection.body_text()));
            return ("-", Err((Value::Null, error)));
        }
    };
    if let Err(error) = check_content_type(headers) {
        return ("-", Err((Value::Null, error)));
    }
    let request = match parse_envelope(&body) {
        Ok(request) => request,
        Err(failed) => return ("-", Err(failed)),
    };
    let method = request.method.label();
    let id = request.id.clone();
    match dispatch(state, principal, headers, request).await {
        Ok(result) => {
            let answer = Answer {
                jsonrpc: "2.0",
                id: &id,
                result: &result,
            };
            (method, Ok(axum::Json(answer).into_response()))
        }
        Err(error) => (method, Err((id, error))),
    }
}

async fn dispatch(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    request: Request<'_>,
) -> Result<Box<RawValue>, Error> {
    match request.method {
        Method::MessageSend => methods::message_send::handle(state, principal, headers, params(request.params)?).await,
        Method::TasksGet => methods::tasks_get::handle(state, principal, params(request.params)?).await,
        Method::TasksCancel => methods::tasks_cancel::handle(state, principal, params(request.params)?).await,
        Method::Unknown(name) => Err(Error::MethodNotFound(name)),
    }
}

fn check_content_type(headers: &HeaderMap) -> Result<(), Error> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or_default();
    let essence = text.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(Error::ContentType(text.chars().take(100).collect()))
    }
}

/// The deepest nesting of arrays and objects accepted in a request.
pub const MAX_JSON_DEPTH: usize = 32;

/// How deeply arrays and objects nest in the JSON text `json` (a scalar is 0), counted over its
/// bytes: brackets inside strings do not count.
fn depth(json: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &byte in json {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Checks the JSON-RPC 2.0 envelope. On failure returns the id to answer with (null when the
/// request's own id is unusable).
fn parse_envelope(body: &[u8]) -> Result<Request<'_>, (Value, Error)> {
    // One pass reads the members and checks the whole body is JSON.
    let parsed = serde_json::from_slice::<Envelope>(body);
    if let Err(error) = &parsed {
        if error.classify() != serde_json::error::Category::Data {
            return Err((Value::Null, Error::Parse(error.to_string())));
        }
    }
    if depth(body) > MAX_JSON_DEPTH {
        return Err((
            Value::Null,
            Error::InvalidRequest(format!("the request nests arrays and objects deeper than {MAX_JSON_DEPTH} levels")),
        ));
    }
    // (A struct also reads from a JSON array: the shape is checked on the text.)
    match body.trim_ascii_start().first() {
        Some(b'{') => {}
        Some(b'[') => return Err((Value::Null, Error::InvalidRequest("batch requests are not supported".into()))),
        _ => return Err((Value::Null, Error::InvalidRequest("the request must be a JSON object".into()))),
    }
    let envelope = parsed.map_err(|error| {
        let what = format!("the request's members: {}", without_position(&error));
        (Value::Null, Error::InvalidRequest(what))
    })?;
    let id = match envelope.id.map(value_of) {
        Some(id @ (Value::String(_) | Value::Number(_))) => id,
        Some(Value::Null) | None => {
            return Err((
                Value::Null,
                Error::InvalidRequest("\"id\" (string or number) is required".into()),
            ))
        }
        Some(_) => {
            return Err((
                Value::Null,
                Error::InvalidRequest("\"id\" must be a string or a number".into()),
            ))
        }
    };
    if envelope.jsonrpc.map(value_of) != Some(json!("2.0")) {
        return Err((id, Error::InvalidRequest("\"jsonrpc\" must be \"2.0\"".into())));
    }
    let method = match envelope.method.map(value_of) {
        Some(Value::String(method)) => Method::parse(&method),
        _ => return Err((id, Error::InvalidRequest("\"method\" must be a string".into()))),
    };
    let params = envelope.params.filter(|params| params.get() != "null");
    if !params.is_some_and(|params| params.get().starts_with('{')) && !matches!(method, Method::Unknown(_)) {
        return Err((id, Error::InvalidParams("\"params\" must be an object".into())));
    }
    Ok(Request { id, method, params })
}

/// A member already checked to be JSON, as a value.
fn value_of(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

/// Deserialises params, naming the path of the first wrong field.
fn params<T: DeserializeOwned>(params: Option<&RawValue>) -> Result<T, Error> {
    let text = params.map_or("null", RawValue::get);
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text)).map_err(|e| {
        let path = e.path().to_string();
        let inner = without_position(e.inner());
        Error::InvalidParams(if path == "." { inner } else { format!("{path}: {inner}") })
    })
}

/// A JSON error's message without serde_json's " at line L column C" (positions in the params
/// alone would mislead; the path says where).
fn without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&suffix) {
        Some(message) if error.line() > 0 => message.to_owned(),
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_errors_are_precise() {
        assert!(matches!(parse_envelope(b"{oops"), Err((Value::Null, Error::Parse(_)))));
        assert!(matches!(parse_envelope(b"[]"), Err((_, Error::InvalidRequest(m))) if m.contains("batch")));
        assert!(
            matches!(parse_envelope(br#"{"jsonrpc":"1.0","id":1,"method":"tasks/get","params":{}}"#), Err((id, Error::InvalidRequest(_))) if id == json!(1))
        );
        assert!(
            matches!(parse_envelope(br#"{"jsonrpc":"2.0","method":"tasks/get","params":{}}"#), Err((_, Error::InvalidRequest(m))) if m.contains("id"))
        );
        let ok = parse_envelope(br#"{"jsonrpc":"2.0","id":"a","method":"nope"}"#).unwrap();
        assert_eq!(ok.method, Method::Unknown("nope".into()));
        let deep = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{{"a":{}1{}}}}}"#, "[".repeat(40), "]".repeat(40));
        assert!(matches!(parse_envelope(deep.as_bytes()), Err((_, Error::InvalidRequest(m))) if m.contains("deeper")));
        let very_deep = "[".repeat(100_000);
        assert!(parse_envelope(very_deep.as_bytes()).is_err(), "no stack overflow");
        let twice = br#"{"jsonrpc":"2.0","id":1,"id":2,"method":"tasks/get","params":{}}"#;
        assert!(matches!(parse_envelope(twice), Err((_, Error::InvalidRequest(m))) if m.contains("duplicate field `id`")));
        let null_params = br#"{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":null}"#;
        assert!(matches!(parse_envelope(null_params), Err((_, Error::InvalidParams(_)))));
        let list_params = br#"{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":[]}"#;
        assert!(matches!(parse_envelope(list_params), Err((_, Error::InvalidParams(_)))));
    }

    #[test]
    fn whitespace_and_brackets_in_strings_are_not_structure() {
        let body = " \n{ \"jsonrpc\" : \"2.0\", \"id\" : \"a\" ,\"method\":\"tasks/get\", \"params\" :\t{\"id\": \"[[[{{\\\"\"} } \n";
        let request = parse_envelope(body.as_bytes()).expect("valid");
        assert_eq!(request.id, json!("a"));
        assert_eq!(request.params.map(RawValue::get), Some("{\"id\": \"[[[{{\\\"\"}"));
        assert_eq!(depth(br#"{"a":"[[[","b":[{"c":"]]"}]}"#), 3);
        assert_eq!(depth(b"7"), 0);
    }

    #[test]
    fn params_errors_name_the_path_without_a_position() {
        let raw = RawValue::from_string(r#"{"id":5}"#.to_owned()).unwrap();
        #[derive(Debug, serde::Deserialize)]
        struct P {
            id: String,
        }
        let ok = RawValue::from_string(r#"{"id":"t"}"#.to_owned()).unwrap();
        assert_eq!(params::<P>(Some(&ok)).unwrap().id, "t");
        let error = params::<P>(Some(&raw)).unwrap_err();
        assert!(matches!(&error, Error::InvalidParams(m) if m == "id: invalid type: integer `5`, expected a string"), "{error:?}");
    }

    /// A bounded fuzz run over the envelope parser (`PROPTEST_CASES` raises it): any bytes get
    /// an answer, never a panic; any valid request comes back with its id and method.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = parse_envelope(&body);
            }

            #[test]
            fn arbitrary_json_never_panics(body in "[\\[\\]{}\",:0-9a-z. -]{0,256}") {
                let _ = parse_envelope(body.as_bytes());
            }

            #[test]
            fn valid_requests_keep_id_and_method(id in any::<i64>(), method in "[a-z/]{1,20}") {
                let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": {}}).to_string();
                let request = parse_envelope(body.as_bytes()).expect("valid");
                prop_assert_eq!(request.id, json!(id));
                prop_assert_eq!(request.method, Method::parse(&method));
            }
        }
    }
}
