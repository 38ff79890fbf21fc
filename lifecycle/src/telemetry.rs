//! Logs and traces, set up once per process by [`init`]:
//!
//! - JSON log lines on standard error ([`JsonLines`]): `timestamp`, `level`, `fields` (the
//!   event's own), `target`, and `span`: the fields of every span the event is in, outermost
//!   first, an inner span's field winning over an outer one of the same name, with `name` the
//!   innermost span's name. So a line logged anywhere in a request carries the request span's
//!   `request_id` (and `task_id` once known), and a line logged in a model call inside a turn
//!   carries the turn's `task_id`, `context_id` and `request_id` beside the call's `provider`.
//!   With traces on, a line logged in a span also carries `trace_id`.
//! - OpenTelemetry traces, off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set: every `tracing`
//!   span becomes an OpenTelemetry span (tracing-opentelemetry), batched and exported over
//!   OTLP/HTTP with protobuf bodies to `<endpoint>/v1/traces`, through the process's own reqwest
//!   client on the tokio runtime.
//! - W3C trace context (`traceparent`, `tracestate`): [`inject`] writes a span's context into
//!   any carrier (NATS headers, HTTP headers), [`set_parent`] continues a trace a carrier brought.
//! - The request id of the request being handled ([`with_request_id`], [`request_id`]), for
//!   code deep in a request (a publish) that must pass it on.
//!
//! Spans are recorded at `INFO` whatever `LOG_LEVEL` says, so the ids stay on every line even at
//! `LOG_LEVEL=warn`.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use opentelemetry::propagation::Injector;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{filter_fn, FilterExt, LevelFilter};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::tls::HttpTrustArgs;

/// The HTTP header (and NATS header) carrying a request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The longest request id taken from a client.
pub const MAX_REQUEST_ID_LEN: usize = 128;
/// How long shutdown waits for the last spans to be exported.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The trace settings. Standard OpenTelemetry variables, so a collector's usual configuration
/// applies; the SDK also reads `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`,
/// `OTEL_RESOURCE_ATTRIBUTES` and the batch settings `OTEL_BSP_*`.
#[derive(Debug, Clone, Default, Args)]
pub struct TelemetryArgs {
    /// Base URL of an OTLP/HTTP collector (`http://collector:4318`): traces are exported to
    /// `<url>/v1/traces` (protobuf). Unset: no traces.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otel_exporter_otlp_endpoint: Option<String>,
    /// The `service.name` of this process's spans (default: the binary's name).
    #[arg(long, env = "OTEL_SERVICE_NAME", global = true)]
    pub otel_service_name: Option<String>,
}

impl TelemetryArgs {
    /// The collector's base URL, if traces are on.
    pub fn endpoint(&self) -> Option<&str> {
        self.otel_exporter_otlp_endpoint
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
    }
}

/// The process's telemetry: [`Telemetry::shutdown`] exports the spans still buffered.
#[must_use = "call shutdown() before the process exits, or the last spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether traces are exported.
    pub fn tracing_enabled(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the spans still buffered (at most [`FLUSH_TIMEOUT`]) and stops the exporter.
    /// Call it inside the runtime, after the work is done.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The SDK's shutdown blocks its caller until its exporter thread is done, and that
        // thread's requests run on this runtime: block a thread of the blocking pool, not a
        // worker.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT));
        match tokio::time::timeout(FLUSH_TIMEOUT + Duration::from_secs(1), flushed).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::warn!(%error, "could not export the last spans"),
            Ok(Err(_)) | Err(_) => tracing::warn!("could not export the last spans in time"),
        }
    }
}

/// Installs the process's subscriber: JSON logs filtered by `filter` (`LOG_LEVEL`), and traces if
/// `args` names a collector (`default_service` is their `service.name` unless
/// `OTEL_SERVICE_NAME` says otherwise). With traces on, call it inside the tokio runtime.
pub fn init(
    filter: &str,
    args: &TelemetryArgs,
    trust: &HttpTrustArgs,
    default_service: &str,
) -> Result<Telemetry, String> {
    EnvFilter::try_new(filter).map_err(|e| format!("LOG_LEVEL: {e}"))?;
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = match args.endpoint() {
        Some(endpoint) => Some(tracer_provider(endpoint, args, trust, default_service)?),
        None => None,
    };
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("cartwright"))
            .with_threads(false)
            // The SDK's own diagnostics are logged, never traced (no spans about spans).
            .with_filter(levels(filter).and(
                filter_fn(|meta| !meta.target().starts_with("opentelemetry")).with_max_level_hint(LevelFilter::TRACE),
            ))
    });
    let logs = tracing_subscriber::fmt::layer()
        .event_format(JsonLines)
        .fmt_fields(SpanFields)
        // Standard error: standard output is for what a command prints (a token, a key, a
        // listing), which scripts read.
        .with_writer(std::io::stderr)
        .with_filter(levels(filter));
    tracing_subscriber::registry()
        .with(logs)
        .with(otel)
        .try_init()
        .map_err(|e| format!("installing the log subscriber: {e}"))?;
    if let Some(endpoint) = args.endpoint() {
        tracing::info!(endpoint, "exporting traces over OTLP/HTTP");
    }
    Ok(Telemetry { provider })
}

/// `LOG_LEVEL`'s events, and every span at `INFO` or above whatever `LOG_LEVEL` says (their
/// fields are the ids on each line).
fn levels<S>(filter: &str) -> impl tracing_subscriber::layer::Filter<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let directives = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // The hint keeps the level check of every disabled `debug!` a static one.
    directives
        .or(filter_fn(|meta| meta.is_span() && *meta.level() <= Level::INFO).with_max_level_hint(LevelFilter::INFO))
}

fn tracer_provider(
    endpoint: &str,
    args: &TelemetryArgs,
    trust: &HttpTrustArgs,
    default_service: &str,
) -> Result<SdkTracerProvider, String> {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};

    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| "OTEL_EXPORTER_OTLP_ENDPOINT: traces need the tokio runtime running".to_owned())?;
    let trusted = trust.certificates()?;
    let client = crate::tls::trusting(reqwest::Client::builder(), &trusted)
        .timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| format!("building the OTLP HTTP client: {e}"))?;
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(OnRuntime { client, runtime });
    // The per-signal variable, when set, is the traces URL itself (the SDK reads it).
    if std::env::var_os("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none_or(|v| v.is_empty()) {
        exporter = exporter.with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')));
    }
    let exporter = exporter
        .build()
        .map_err(|e| format!("OTEL_EXPORTER_OTLP_ENDPOINT: {e}"))?;
    let service = args
        .otel_service_name
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(default_service)
        .to_owned();
    Ok(SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build())
        .with_batch_exporter(exporter)
        .build())
}

/// The exporter's HTTP client: the SDK's batch processor exports from a thread of its own, and
/// reqwest needs the tokio runtime, so each request is spawned on it.
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

/// The most of a collector's answer read (it is a small protobuf status).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let request = reqwest::Request::try_from(request)?;
        let sent = self.runtime.spawn(async move {
            let mut response = client.execute(request).await?;
            let status = response.status();
            let headers = std::mem::take(response.headers_mut());
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>((status, headers, body))
        });
        let (status, headers, body) = sent.await??;
        let mut response = Response::builder().status(status).body(Bytes::from(body))?;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

/// Writes `span`'s trace context (W3C `traceparent`, `tracestate`) with `set`; writes nothing
/// when traces are off or the span is disabled.
pub fn inject(span: &tracing::Span, set: impl FnMut(&str, String)) {
    struct Setter<F>(F);
    impl<F: FnMut(&str, String)> Injector for Setter<F> {
        fn set(&mut self, key: &str, value: String) {
            (self.0)(key, value)
        }
    }
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return;
    }
    let mut setter = Setter(set);
    opentelemetry::global::get_text_map_propagator(|propagator| propagator.inject_context(&cx, &mut setter));
}

/// [`inject`] into HTTP headers (an outgoing reqwest request's).
pub fn inject_http(span: &tracing::Span, headers: &mut HeaderMap) {
    inject(span, |key, value| {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(key.as_bytes()), HeaderValue::from_str(&value)) {
            headers.insert(name, value);
        }
    });
}

/// The trace-context headers a carrier holds, by their lower-case names: what [`set_parent`]
/// reads.
pub fn context_fields() -> [&'static str; 2] {
    ["traceparent", "tracestate"]
}

/// Makes `span` (just created, not yet entered) a child of the trace context `get` returns for
/// the names of [`context_fields`]; without a valid `traceparent` (or with traces off) `span`
/// stays as it is.
pub fn set_parent(span: &tracing::Span, get: impl Fn(&str) -> Option<String>) {
    let carrier: HashMap<String, String> = context_fields()
        .into_iter()
        .filter_map(|name| get(name).map(|value| (name.to_owned(), value)))
        .collect();
    if !carrier.contains_key("traceparent") {
        return;
    }
    let cx = opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&carrier));
    if cx.span().span_context().is_valid() {
        // Fails only when traces are off (no layer to tell) or the span already started.
        let _ = span.set_parent(cx);
    }
}

/// [`set_parent`] from HTTP headers (an incoming request's).
pub fn set_parent_http(span: &tracing::Span, headers: &HeaderMap) {
    set_parent(span, |name| {
        headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    });
}

/// Whether `id` is a request id worth keeping: 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII
/// characters (no spaces, no control characters).
pub fn valid_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
}

/// Runs `work` with `id` as the current request id ([`request_id`]).
pub async fn with_request_id<F: Future>(id: Arc<str>, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}

/// The request id of the request this task is handling, if it is handling one.
pub fn request_id() -> Option<Arc<str>> {
    REQUEST_ID.try_with(Arc::clone).ok()
}

/// One JSON object per event (see the module's documentation), written straight into the
/// line: no JSON values are built and no span's fields are parsed again (BENCHMARKS.md, issue 11).
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let mut line = String::with_capacity(512);
        line.push_str("{\"timestamp\":\"");
        SystemTime.format_time(&mut Writer::new(&mut line))?;
        line.push_str("\",\"level\":\"");
        line.push_str(meta.level().as_str());
        line.push_str("\",\"fields\":{");
        event.record(&mut Members::event(&mut line));
        line.push_str("},\"target\":");
        push_string(&mut line, meta.target());
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<_> = scope.from_root().collect();
            let extensions: Vec<_> = spans.iter().map(|span| span.extensions()).collect();
            // Outermost first; a name seen again keeps its first place and takes the inner value.
            let mut merged: Vec<(&str, &str)> = Vec::new();
            for fields in extensions.iter().filter_map(|e| e.get::<FormattedFields<N>>()) {
                for member in fields.fields.split('\n').filter(|m| !m.is_empty()) {
                    let key = member_key(member);
                    if key == "name" {
                        continue;
                    }
                    match merged.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = member,
                        None => merged.push((key, member)),
                    }
                }
            }
            line.push_str(",\"span\":{");
            for (_, member) in &merged {
                line.push_str(member);
                line.push(',');
            }
            line.push_str("\"name\":");
            push_string(&mut line, spans.last().map_or("", |span| span.name()));
            line.push('}');
            let cx = opentelemetry::Context::current();
            let span_context = cx.span().span_context().clone();
            if span_context.is_valid() {
                write!(line, ",\"trace_id\":\"{}\"", span_context.trace_id())?;
            }
        }
        line.push_str("}\n");
        writer.write_str(&line)
    }
}

/// A span's fields as JSON object members (`"a":1`), one per line, as [`JsonLines`] reads them;
/// `otel.*` fields (the span's OpenTelemetry name, kind and status) are left out.
/// A field recorded later is appended, not merged: tracing-subscriber's `JsonFields` parses and
/// rewrites the whole object at each `record`, which cost a measurable part of the ingress's
/// CPU with a request span recorded several times per request (BENCHMARKS.md, issue 11). A
/// name recorded twice appears twice; [`JsonLines`] writes the last.
pub struct SpanFields;

impl<'writer> FormatFields<'writer> for SpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut members = String::new();
        fields.record(&mut Members::span(&mut members));
        writer.write_str(&members)
    }

    fn add_fields(&self, current: &'writer mut FormattedFields<Self>, fields: &tracing::span::Record<'_>) -> fmt::Result {
        fields.record(&mut Members::span(&mut current.fields));
        Ok(())
    }
}

/// The key of a member [`Members`] wrote (`"key":value`; keys are field names, never escaped).
fn member_key(member: &str) -> &str {
    member
        .strip_prefix('"')
        .and_then(|rest| rest.split_once("\":"))
        .map_or("", |(key, _)| key)
}

/// Writes fields as JSON object members (`"key":value`) into a line, `separator` between them.
struct Members<'a> {
    out: &'a mut String,
    separator: char,
    first: bool,
    /// A span's fields: `otel.*` ones are skipped.
    span: bool,
}

impl<'a> Members<'a> {
    /// An event's fields, comma-separated.
    fn event(out: &'a mut String) -> Members<'a> {
        Members {
            out,
            separator: ',',
            first: true,
            span: false,
        }
    }

    /// A span's fields, one per line, after those `out` already holds.
    fn span(out: &'a mut String) -> Members<'a> {
        Members {
            first: out.is_empty(),
            out,
            separator: '\n',
            span: true,
        }
    }

    /// Starts a member (the separator after the first, and the key) and returns where its value
    /// goes; `None` for a field that is skipped.
    fn key(&mut self, field: &Field) -> Option<&mut String> {
        let name = field.name();
        if self.span && name.starts_with("otel.") {
            return None;
        }
        if !self.first {
            self.out.push(self.separator);
        }
        self.first = false;
        push_string(self.out, name.strip_prefix("r#").unwrap_or(name));
        self.out.push(':');
        Some(self.out)
    }
}

impl Visit for Members<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if let Some(out) = self.key(field) {
            if value.is_finite() {
                let _ = write!(out, "{value}");
            } else {
                out.push_str("null");
            }
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Some(out) = self.key(field) {
            let _ = write!(out, "{value}");
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if let Some(out) = self.key(field) {
            let _ = write!(out, "{value}");
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        if let Some(out) = self.key(field) {
            out.push_str(if value { "true" } else { "false" });
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(out) = self.key(field) {
            push_string(out, value);
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if let Some(out) = self.key(field) {
            out.push('"');
            let _ = write!(Escaped(out), "{value}");
            out.push('"');
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(out) = self.key(field) {
            out.push('"');
            let _ = write!(Escaped(out), "{value:?}");
            out.push('"');
        }
    }
}

/// `value` as a JSON string.
fn push_string(out: &mut String, value: &str) {
    out.push('"');
    let _ = Escaped(out).write_str(value);
    out.push('"');
}

/// Escapes what is written to it for the inside of a JSON string.
struct Escaped<'a>(&'a mut String);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(|c: char| c == '"' || c == '\\' || c < ' ') {
            self.0.push_str(&rest[..at]);
            let c = rest[at..].chars().next().unwrap_or(' ');
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                c => write!(self.0, "\\u{:04x}", c as u32)?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.push_str(rest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a subscriber with [`JsonLines`] wrote while `log` ran, one parsed line per event.
    fn lines_of(log: impl FnOnce()) -> Vec<serde_json::Value> {
        #[derive(Clone, Default)]
        struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let written = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(JsonLines)
                .fmt_fields(SpanFields)
                .with_writer(move || written.clone()),
        );
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    #[test]
    fn lines_carry_the_event_and_the_merged_span_fields() {
        let lines = lines_of(|| {
            let outer = tracing::info_span!("request", request_id = "r-1", task_id = tracing::field::Empty, name = "x");
            let _outer = outer.enter();
            outer.record("task_id", "t-1");
            outer.record("task_id", "t-2");
            let inner = tracing::info_span!("turn", request_id = "r-2", "otel.kind" = "server", attempt = 3u64);
            let _inner = inner.enter();
            let odd = "quote \" backslash \\ newline \n tab \t bell \u{7} é";
            tracing::warn!(seq = 7i64, ratio = 0.5, nan = f64::NAN, ok = true, text = odd, "said {}", odd);
        });
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        let odd = "quote \" backslash \\ newline \n tab \t bell \u{7} é";
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["fields"]["message"], format!("said {odd}"));
        assert_eq!(line["fields"]["text"], odd);
        assert_eq!(line["fields"]["seq"], 7);
        assert_eq!(line["fields"]["ratio"], 0.5);
        assert_eq!(line["fields"]["nan"], serde_json::Value::Null);
        assert_eq!(line["fields"]["ok"], true);
        assert_eq!(line["target"], module_path!());
        assert_eq!(line["span"]["request_id"], "r-2", "the inner span's field wins");
        assert_eq!(line["span"]["task_id"], "t-2", "the last record wins");
        assert_eq!(line["span"]["attempt"], 3);
        assert_eq!(line["span"]["name"], "turn", "the innermost span's name");
        assert!(line["span"].get("otel.kind").is_none(), "{line}");
        assert!(line.get("trace_id").is_none());
    }

    #[test]
    fn a_line_outside_spans_has_no_span() {
        let lines = lines_of(|| tracing::info!(path = "/", "hello"));
        assert_eq!(lines[0]["fields"], serde_json::json!({"message": "hello", "path": "/"}));
        assert!(lines[0].get("span").is_none());
    }

    #[test]
    fn request_ids_are_short_visible_ascii() {
        assert!(valid_request_id("abc-123_X.y:z/+="));
        assert!(valid_request_id(&"a".repeat(MAX_REQUEST_ID_LEN)));
        assert!(!valid_request_id(&"a".repeat(MAX_REQUEST_ID_LEN + 1)));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("has space"));
        assert!(!valid_request_id("tab\there"));
        assert!(!valid_request_id("naïve"));
    }

    #[tokio::test]
    async fn the_request_id_is_scoped_to_its_task() {
        assert_eq!(request_id(), None);
        let inside = with_request_id(Arc::from("r-1"), async { request_id() }).await;
        assert_eq!(inside.as_deref(), Some("r-1"));
        assert_eq!(request_id(), None);
    }

    #[test]
    fn nothing_is_injected_without_traces() {
        let mut headers = HeaderMap::new();
        inject_http(&tracing::Span::current(), &mut headers);
        assert!(headers.is_empty());
    }
}
