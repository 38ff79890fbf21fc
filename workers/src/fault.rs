//! Fault points for the crash tests. `CARTWRIGHT_FAULT=<point>:<marker>` makes a worker stop
//! (forever, until it is killed) at `<point>` while applying a task whose messageId contains
//! `<marker>`, after logging `fault point reached`. Points: `after_model_reply` (a model reply
//! of the agent's turn journaled, nothing committed), `before_commit` (inside the transaction,
//! effects written but not committed) and `after_commit` (committed, not acked).
//! Unset in production; a marker never matches by accident because tests choose it.

use schemas::TaskEnvelope;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    AfterModelReply,
    BeforeCommit,
    AfterCommit,
}

impl FaultPoint {
    fn parse(s: &str) -> Option<FaultPoint> {
        match s {
            "after_model_reply" => Some(FaultPoint::AfterModelReply),
            "before_commit" => Some(FaultPoint::BeforeCommit),
            "after_commit" => Some(FaultPoint::AfterCommit),
            _ => None,
        }
    }
}

/// The configured fault, if any.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    fault: Option<(FaultPoint, String)>,
}

impl Faults {
    /// Parses `<point>:<marker>`; `None` or an empty string means no fault.
    pub fn parse(spec: Option<&str>) -> Result<Faults, String> {
        let Some(spec) = spec.filter(|s| !s.is_empty()) else {
            return Ok(Faults::default());
        };
        let (point, marker) = spec
            .split_once(':')
            .ok_or_else(|| format!("CARTWRIGHT_FAULT {spec:?} is not <point>:<marker>"))?;
        let point = FaultPoint::parse(point).ok_or_else(|| format!("unknown fault point {point:?}"))?;
        if marker.is_empty() {
            return Err("CARTWRIGHT_FAULT needs a non-empty marker".to_owned());
        }
        Ok(Faults {
            fault: Some((point, marker.to_owned())),
        })
    }

    /// Stops here forever if this is the configured point and task.
    pub async fn reach(&self, point: FaultPoint, env: &TaskEnvelope) {
        if let Some((at, marker)) = &self.fault {
            if *at == point && env.message_id.contains(marker.as_str()) {
                tracing::warn!(task_id = %env.task_id, ?point, "fault point reached");
                std::future::pending::<()>().await;
            }
        }
    }
}
