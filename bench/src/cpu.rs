//! CPU time of the processes of the system under test, read from /proc: what a unit of work
//! costs (ms of CPU per turn), by process kind, rather than what it takes (latency).

use std::collections::BTreeMap;

/// The process kinds counted, by their command name (`comm`, at most 15 characters).
const KINDS: [(&str, &str); 4] = [
    ("postgres", "postgres"),
    ("nats-server", "nats-server"),
    ("cartwright-ingr", "ingress"),
    ("cartwright-work", "workers"),
];

/// CPU seconds used so far by each kind of process, summed over its processes.
#[derive(Debug, Clone, Default)]
pub struct Snapshot(BTreeMap<&'static str, f64>);

impl Snapshot {
    pub fn now() -> Snapshot {
        let mut used = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Snapshot(used);
        };
        for entry in entries.flatten() {
            if !entry.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let Some((comm, seconds)) = process_seconds(&stat) else {
                continue;
            };
            if let Some((_, kind)) = KINDS.iter().find(|(name, _)| *name == comm) {
                *used.entry(*kind).or_insert(0.0) += seconds;
            }
        }
        Snapshot(used)
    }

    /// The CPU milliseconds each kind used between `earlier` and this snapshot, per unit of
    /// `work`, as "postgres 1.23, ingress 0.45, ..." and their total.
    pub fn per_unit_since(&self, earlier: &Snapshot, work: u64) -> (String, f64) {
        let work = work.max(1) as f64;
        let mut total = 0.0;
        let parts: Vec<String> = KINDS
            .iter()
            .map(|(_, kind)| {
                let used = self.0.get(kind).copied().unwrap_or(0.0) - earlier.0.get(kind).copied().unwrap_or(0.0);
                let per_unit = used.max(0.0) * 1000.0 / work;
                total += per_unit;
                format!("{kind} {per_unit:.2}")
            })
            .collect();
        (parts.join(", "), total)
    }
}

/// A process's command name and CPU seconds so far (user + system), from its /proc stat line.
pub fn process_seconds(stat: &str) -> Option<(&str, f64)> {
    // The command name may hold spaces and parentheses: it ends at the last ')'.
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after the name, in clock ticks
    // (100 per second on Linux).
    Some((comm, (ticks(11) + ticks(12)) / 100.0))
}
