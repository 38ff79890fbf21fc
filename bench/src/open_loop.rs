//! The external client: an open-loop load generator. Requests are due at a fixed arrival rate
//! whatever the system does, and each one's latency is counted from the moment it was due, not
//! from when it could be sent; a closed-loop client (each lane waiting for its answer before
//! sending again) sends less while the system stalls and so hides the stall from its figures.
//! As wrk2 does, the schedule is split over a fixed number of keep-alive connections, each
//! sending its share at its own due times; a connection whose answers come late falls behind
//! its schedule, and the lateness counts in the latencies.
//!
//! It speaks just enough HTTP/1.1 over plain TCP (one request at a time per connection,
//! `Content-Length` bodies, as the ingress answers), so that the generator takes a small part
//! of the CPU it shares with the system (its own use is reported).
//!
//! Only answers carrying a JSON-RPC `result` count as results; anything else (an error answer,
//! a refused or dropped connection, no answer within `ANSWER_TIMEOUT`) is not a result.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connections the schedule is spread over: enough that each sends one request every 25 ms at
/// 5,000/s, so a connection only falls behind when answers take longer than that.
pub const CONNECTIONS: usize = 128;
/// How long an answer may take before it counts as not a result (and the connection is
/// opened again).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Which conversation each request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversation {
    /// A new conversation per request (no contextId): a shopper's first message.
    New,
    /// Requests spread round-robin over this many conversations.
    Existing(usize),
}

/// Where and what to send.
#[derive(Clone)]
pub struct Target {
    /// An `http://host:port/path` URL.
    pub url: String,
    pub token: String,
    pub profile: String,
    /// A prefix that makes this run's messageIds and contextIds unique.
    pub run: String,
}

/// One second of the measured window.
#[derive(Debug, Clone, Copy)]
pub struct Second {
    pub results: u64,
    pub p50: Duration,
    pub p99: Duration,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Figures {
    pub rate: f64,
    pub window: Duration,
    /// Answers carrying a result, among requests due inside the window.
    pub results: u64,
    pub not_results: u64,
    /// Sorted latencies (from due time to answer) of the results.
    pub latencies: Vec<Duration>,
    pub seconds: Vec<Second>,
    /// The generator's own CPU over the run, in cores (1.0 = one core busy).
    pub cpu_cores: f64,
}

impl Figures {
    pub fn per_second(&self) -> f64 {
        self.results as f64 / self.window.as_secs_f64()
    }

    /// The `p`th percentile (0 to 100, fractions allowed) of the results' latencies.
    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }

    /// The figures as text: totals, percentiles, then one line per second.
    pub fn describe(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mut out = format!(
            "due {:.0}/s for {} s: {} results ({:.0}/s), {} not results; generator {:.2} cores\n",
            self.rate,
            self.window.as_secs(),
            self.results,
            self.per_second(),
            self.not_results,
            self.cpu_cores
        );
        for p in [50.0, 90.0, 99.0, 99.9] {
            out += &format!("p{p} {:.1} ms\n", ms(self.percentile(p)));
        }
        out += &format!(
            "max {:.1} ms\nsecond results p50_ms p99_ms\n",
            ms(self.latencies.last().copied().unwrap_or_default())
        );
        for (i, second) in self.seconds.iter().enumerate() {
            out += &format!("{i} {} {:.1} {:.1}\n", second.results, ms(second.p50), ms(second.p99));
        }
        out
    }

    /// The second with the highest median latency.
    pub fn worst_second(&self) -> Option<Second> {
        self.seconds.iter().copied().max_by_key(|s| s.p50)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * p / 100.0) as usize).min(sorted.len() - 1);
    sorted[index]
}

/// One request's outcome: when it was due (from the start of the window, negative in the
/// warm-up), how long its answer took, and whether it carried a result.
struct Outcome {
    due: f64,
    latency: Duration,
    result: bool,
}

/// Sends non-blocking `message/send` requests due at `rate` per second for `warmup + window`,
/// measuring the requests due inside `window`.
pub async fn run(
    target: Target,
    rate: f64,
    conversation: Conversation,
    warmup: Duration,
    window: Duration,
) -> Result<Figures, String> {
    let endpoint = Endpoint::parse(&target.url)?;
    let cpu_before = own_cpu();
    let start = Instant::now();
    let schedule = Schedule {
        start,
        measure_from: start + warmup,
        end: start + warmup + window,
        rate,
    };
    let connections: Vec<_> = (0..CONNECTIONS)
        .map(|c| tokio::spawn(connection(endpoint.clone(), target.clone(), conversation, schedule, c)))
        .collect();
    let mut outcomes = Vec::new();
    for connection in connections {
        outcomes.extend(
            connection
                .await
                .map_err(|e| format!("a connection's task failed: {e}"))?,
        );
    }
    let cpu_cores = (own_cpu() - cpu_before) / start.elapsed().as_secs_f64();
    Ok(figures(outcomes, rate, window, cpu_cores))
}

/// When requests are due: request `n` (of all connections) at `start + n / rate`.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    start: Instant,
    measure_from: Instant,
    end: Instant,
    rate: f64,
}

impl Schedule {
    fn due(&self, n: u64) -> Instant {
        self.start + Duration::from_secs_f64(n as f64 / self.rate)
    }

    /// Seconds from the start of the measured window (negative in the warm-up).
    fn offset(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.measure_from).as_secs_f64()
            - self.measure_from.saturating_duration_since(at).as_secs_f64()
    }
}

/// Connection `c` sends requests `c`, `c + CONNECTIONS`, ... each at its due time, or at once
/// when it is behind.
async fn connection(
    endpoint: Endpoint,
    target: Target,
    conversation: Conversation,
    schedule: Schedule,
    c: usize,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let mut stream: Option<TcpStream> = None;
    let mut buffer = Vec::with_capacity(4096);
    let mut n = c as u64;
    let head = endpoint.head(&target);
    loop {
        let due_at = schedule.due(n);
        if due_at >= schedule.end {
            return outcomes;
        }
        tokio::time::sleep_until(due_at.into()).await;
        let body = body(&target, conversation, n);
        let request = format!("{head}Content-Length: {}\r\n\r\n{body}", body.len());
        let answer = tokio::time::timeout(
            ANSWER_TIMEOUT,
            exchange(&endpoint, &mut stream, &mut buffer, request.as_bytes()),
        )
        .await;
        let result = match answer {
            Ok(Ok(result)) => result,
            Ok(Err(_)) | Err(_) => {
                stream = None;
                false
            }
        };
        outcomes.push(Outcome {
            due: schedule.offset(due_at),
            latency: due_at.elapsed(),
            result,
        });
        n += CONNECTIONS as u64;
    }
}

/// Sends one request on the connection (opening it if needed) and reads its answer: true if
/// it is a 200 whose body carries a JSON-RPC result. An error closes the connection.
async fn exchange(
    endpoint: &Endpoint,
    stream: &mut Option<TcpStream>,
    buffer: &mut Vec<u8>,
    request: &[u8],
) -> std::io::Result<bool> {
    if stream.is_none() {
        let opened = TcpStream::connect(&endpoint.authority).await?;
        opened.set_nodelay(true)?;
        *stream = Some(opened);
        buffer.clear();
    }
    let Some(tcp) = stream.as_mut() else {
        return Ok(false);
    };
    tcp.write_all(request).await?;
    let (head_len, status, content_length) = loop {
        if let Some(head) = parse_head(buffer) {
            break head;
        }
        read_more(tcp, buffer).await?;
    };
    while buffer.len() < head_len + content_length {
        read_more(tcp, buffer).await?;
    }
    let body = &buffer[head_len..head_len + content_length];
    let result = status == 200 && body.windows(9).any(|w| w == br#""result":"#);
    buffer.drain(..head_len + content_length);
    Ok(result)
}

async fn read_more(tcp: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 8192];
    let read = tcp.read(&mut chunk).await?;
    if read == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    buffer.extend_from_slice(&chunk[..read]);
    Ok(())
}

/// A complete response head in `buffer`: its length, the status code and the body's
/// `Content-Length` (0 when absent).
fn parse_head(buffer: &[u8]) -> Option<(usize, u16, usize)> {
    let end = buffer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buffer[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let content_length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    Some((end, status, content_length))
}

/// Where requests go: the host and port to connect to, and the path.
#[derive(Debug, Clone)]
struct Endpoint {
    authority: String,
    path: String,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: the external client speaks plain http:// only"))?;
        let (authority, path) = rest
            .split_once('/')
            .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
        let authority = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Endpoint { authority, path })
    }

    /// The request line and the headers every request carries, up to `Content-Length`.
    fn head(&self, target: &Target) -> String {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\
             X-A2A-Extensions: {extension}\r\nUCP-Agent: profile=\"{profile}\"\r\n",
            path = self.path,
            host = self.authority,
            token = target.token,
            extension = testkit::client::EXTENSION_URI,
            profile = target.profile,
        )
    }
}

fn figures(outcomes: Vec<Outcome>, rate: f64, window: Duration, cpu_cores: f64) -> Figures {
    let measured: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.due >= 0.0 && o.due < window.as_secs_f64())
        .collect();
    let mut by_second = vec![Vec::new(); window.as_secs().max(1) as usize];
    let mut latencies = Vec::with_capacity(measured.len());
    let mut not_results = 0;
    for outcome in &measured {
        if outcome.result {
            latencies.push(outcome.latency);
            if let Some(second) = by_second.get_mut(outcome.due as usize) {
                second.push(outcome.latency);
            }
        } else {
            not_results += 1;
        }
    }
    latencies.sort();
    let seconds = by_second
        .into_iter()
        .map(|mut latencies| {
            latencies.sort();
            Second {
                results: latencies.len() as u64,
                p50: percentile(&latencies, 50.0),
                p99: percentile(&latencies, 99.0),
            }
        })
        .collect();
    Figures {
        rate,
        window,
        results: latencies.len() as u64,
        not_results,
        latencies,
        seconds,
        cpu_cores,
    }
}

/// Request `n`: an `add_to_checkout` of one item.
fn body(target: &Target, conversation: Conversation, n: u64) -> String {
    let context = match conversation {
        Conversation::New => String::new(),
        Conversation::Existing(conversations) => {
            format!(r#","contextId":"{}-{}""#, target.run, n % conversations as u64)
        }
    };
    format!(
        r#"{{"jsonrpc":"2.0","id":{n},"method":"message/send","params":{{"message":{{"kind":"message","role":"user","messageId":"{run}-{n}"{context},"parts":[{{"kind":"data","data":{{"action":"add_to_checkout","product_id":"BISC-001","quantity":1}}}}]}},"configuration":{{"blocking":false}}}}}}"#,
        run = target.run,
    )
}

/// This process's CPU time so far, in seconds.
fn own_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    crate::cpu::process_seconds(&stat).map_or(0.0, |(_, seconds)| seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_head_is_read_once_complete() {
        let response = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 11\r\n\r\n{\"result\":1}";
        assert_eq!(parse_head(&response[..20]), None);
        let head_len = response.len() - 12;
        assert_eq!(parse_head(response), Some((head_len, 200, 11)));
        assert_eq!(
            parse_head(b"HTTP/1.1 503 Service Unavailable\r\n\r\n"),
            Some((36, 503, 0))
        );
    }

    #[test]
    fn only_plain_http_urls_are_targets() {
        let endpoint = Endpoint::parse("http://127.0.0.1:10999/").expect("an http URL");
        assert_eq!(
            (endpoint.authority.as_str(), endpoint.path.as_str()),
            ("127.0.0.1:10999", "/")
        );
        let endpoint = Endpoint::parse("http://shop.example/a2a").expect("an http URL");
        assert_eq!(
            (endpoint.authority.as_str(), endpoint.path.as_str()),
            ("shop.example:80", "/a2a")
        );
        assert!(Endpoint::parse("https://shop.example/").is_err());
    }

    #[test]
    fn the_worst_second_is_the_one_with_the_slowest_median() {
        let ms = Duration::from_millis;
        let outcome = |due: f64, latency: u64, result: bool| Outcome {
            due,
            latency: ms(latency),
            result,
        };
        let outcomes = vec![
            outcome(-0.5, 900, true),
            outcome(0.1, 5, true),
            outcome(0.2, 7, true),
            outcome(1.1, 40, true),
            outcome(1.2, 50, true),
            outcome(1.3, 0, false),
            outcome(2.5, 1000, true),
        ];
        let figures = figures(outcomes, 100.0, Duration::from_secs(2), 0.1);
        // The warm-up's request and the one due after the window are left out.
        assert_eq!((figures.results, figures.not_results), (4, 1));
        let worst = figures.worst_second().expect("two seconds");
        assert_eq!((worst.results, worst.p50), (2, ms(50)));
        assert_eq!(figures.percentile(50.0), ms(40));
    }
}
