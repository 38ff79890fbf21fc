//! The table printed and written to BENCHMARKS.md.

use std::fmt::Write as _;
use std::time::Duration;

use crate::load::Sample;

/// What the post-run check found.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    pub tasks: i64,
    pub stuck: i64,
    pub out_of_order: i64,
}

pub struct Row {
    pub name: String,
    pub what: String,
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub failed: u64,
    pub ratio: Option<f64>,
    pub verdict: Option<Verdict>,
    /// Scenario-specific figures (model calls per turn, worker memory).
    pub notes: String,
}

impl Row {
    pub fn new(name: &str, what: &str, sample: &Sample, verdict: Option<Verdict>) -> Row {
        Row {
            name: name.to_owned(),
            what: what.to_owned(),
            per_second: sample.per_second(),
            p50: sample.percentile(50),
            p99: sample.percentile(99),
            failed: sample.failed,
            ratio: None,
            verdict,
            notes: String::new(),
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// The table; `calibration` (pgbench turn-shaped transactions per second in this run) gives
/// each row's rate as a ratio to the machine's speed today.
pub fn table(rows: &[Row], calibration: Option<f64>) -> String {
    let mut out = String::from(
        "| scenario | what | per second | ÷ calibration | p50 ms | p99 ms | failed | ratio | tasks checked | out of order | stuck | notes |\n",
    );
    out.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    if let Some(tps) = calibration {
        let _ = writeln!(
            out,
            "| calibration | pgbench, turn-shaped transaction (insert + two updates), 8 clients | {tps:.0} | 1.000 |  |  |  |  |  |  |  | the machine's speed in this run |"
        );
    }
    for row in rows {
        let ratio = row.ratio.map_or("".to_owned(), |r| format!("{r:.2}"));
        let per_calibration = calibration
            .filter(|tps| *tps > 0.0)
            .map_or("".to_owned(), |tps| format!("{:.3}", row.per_second / tps));
        let (tasks, order, stuck) = row.verdict.map_or(("".into(), "".into(), "".into()), |v| {
            (v.tasks.to_string(), v.out_of_order.to_string(), v.stuck.to_string())
        });
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            row.what,
            row.per_second,
            per_calibration,
            ms(row.p50),
            ms(row.p99),
            row.failed,
            ratio,
            tasks,
            order,
            stuck,
            row.notes
        );
    }
    out
}

/// Marks the generated part of BENCHMARKS.md; text outside the markers (the history of
/// measurements, notes) is kept.
const BEGIN: &str = "<!-- bench:begin (written by cartwright-bench; edit outside these markers) -->";
const END: &str = "<!-- bench:end -->";

/// Writes the latest figures into the report, between the markers.
pub fn write(path: &str, table: &str, quick: bool) -> std::io::Result<()> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let section = format!(
        "{BEGIN}\n## Latest run\n\n\
         Measured {date} on this project's machine ({cores} cores), with nats-server, PostgreSQL, the ingress, \
         the workers and the load generator all sharing it. Release binaries, `LOG_LEVEL=info` (JSON logs on), \
         nats-server with `sync_interval: always` (fsync before every PubAck) except in rows marked \
         `/sync-1s` (`deploy/nats-server-sync-1s.conf`: fsync every second), PostgreSQL defaults \
         (`synchronous_commit = on`), 16 partitions, `DB_POOL_SIZE=16` per process.{quick}\n\n{table}\n\
         Columns: *per second* counts operations that finished inside the measured window; p50/p99 are their latencies \
         (for blocking sends, from request to completed task). *ratio* is to one worker for end-to-end, and to the ideal \
         for headroom and chat at 2 s. *÷ calibration* is the rate divided by the calibration row's (pgbench on the same PostgreSQL \
         in the same run): compare runs by it, not by raw rates. *tasks checked*, *out of order* and *stuck* come from the \
         database after the run: every task's checkout snapshot must show the quantity its sequence number says (chat \
         rows that search check order only through stuck and failed), and no task may be left unfinished.\n{END}",
        date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        quick = if quick { " Quick run (short windows): noisier figures." } else { "" },
    );
    let existing = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n\n".to_owned());
    let report = match (existing.find(BEGIN), existing.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            format!("{}{section}{}", &existing[..begin], &existing[end + END.len()..])
        }
        _ => format!("{}\n{section}\n", existing.trim_end()),
    };
    std::fs::write(path, report)
}
