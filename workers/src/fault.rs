//! Fault points for the crash tests, compiled only with the `fault-injection` feature (the
//! test script enables it; release builds, `make run` and images do not, so a production
//! worker has no code that stops on a message).
//!
//! `CARTWRIGHT_FAULT=<point>:<marker>` makes a worker stop (forever, until it is killed) at
//! `<point>` while applying a task whose messageId contains `<marker>`, after logging
//! `fault point reached`. Points: `after_model_reply` (a model reply of the agent's turn
//! journaled, nothing committed), `before_commit` (inside the transaction, effects written but
//! not committed) and `after_commit` (committed, not acked). Four more points act where a due
//! turn starts its transaction instead of stopping: `fail_turn` fails it with a retryable error,
//! `poison_turn` with a permanent one (every time), `panic_turn` panics (a bug in the turn's
//! code), and `crash_turn` aborts the process. A build
//! without the feature ignores the variable, with a warning at start-up.

use schemas::TaskEnvelope;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    AfterModelReply,
    BeforeCommit,
    AfterCommit,
    FailTurn,
    PoisonTurn,
    PanicTurn,
    CrashTurn,
}

/// The configured fault, if any.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    #[cfg(feature = "fault-injection")]
    fault: Option<(FaultPoint, String)>,
}

/// The variable the fault is read from.
pub const FAULT_VAR: &str = "CARTWRIGHT_FAULT";

impl Faults {
    /// The fault `CARTWRIGHT_FAULT` configures.
    pub fn from_env() -> Result<Faults, String> {
        let spec = std::env::var(FAULT_VAR).ok();
        #[cfg(feature = "fault-injection")]
        return Faults::parse(spec.as_deref());
        #[cfg(not(feature = "fault-injection"))]
        {
            if spec.is_some_and(|s| !s.is_empty()) {
                tracing::warn!("{FAULT_VAR} is set but this build has no fault injection; ignored");
            }
            Ok(Faults::default())
        }
    }

    /// Parses `<point>:<marker>`; `None` or an empty string means no fault.
    #[cfg(feature = "fault-injection")]
    pub fn parse(spec: Option<&str>) -> Result<Faults, String> {
        let Some(spec) = spec.filter(|s| !s.is_empty()) else {
            return Ok(Faults::default());
        };
        let (point, marker) = spec
            .split_once(':')
            .ok_or_else(|| format!("{FAULT_VAR} {spec:?} is not <point>:<marker>"))?;
        let point = match point {
            "after_model_reply" => FaultPoint::AfterModelReply,
            "before_commit" => FaultPoint::BeforeCommit,
            "after_commit" => FaultPoint::AfterCommit,
            "fail_turn" => FaultPoint::FailTurn,
            "poison_turn" => FaultPoint::PoisonTurn,
            "panic_turn" => FaultPoint::PanicTurn,
            "crash_turn" => FaultPoint::CrashTurn,
            _ => return Err(format!("unknown fault point {point:?}")),
        };
        if marker.is_empty() {
            return Err(format!("{FAULT_VAR} needs a non-empty marker"));
        }
        Ok(Faults {
            fault: Some((point, marker.to_owned())),
        })
    }

    /// Stops here forever if this is the configured point and task.
    #[cfg(feature = "fault-injection")]
    pub async fn reach(&self, point: FaultPoint, env: &TaskEnvelope) {
        if let Some((at, marker)) = &self.fault {
            if *at == point && env.message_id.contains(marker.as_str()) {
                tracing::warn!(task_id = %env.task_id, ?point, "fault point reached");
                std::future::pending::<()>().await;
            }
        }
    }

    /// Fails (or aborts) a due turn if a failing point is configured for this task.
    #[cfg(feature = "fault-injection")]
    pub fn fail(&self, env: &TaskEnvelope) -> store::Result<()> {
        let Some((point, marker)) = &self.fault else {
            return Ok(());
        };
        if !env.message_id.contains(marker.as_str()) {
            return Ok(());
        }
        match point {
            FaultPoint::FailTurn => Err(store::Error::Injected { permanent: false }),
            FaultPoint::PoisonTurn => Err(store::Error::Injected { permanent: true }),
            FaultPoint::PanicTurn => panic!("fault point reached: panic_turn"),
            FaultPoint::CrashTurn => {
                tracing::warn!(task_id = %env.task_id, "fault point reached: aborting");
                std::process::abort()
            }
            _ => Ok(()),
        }
    }

    /// Without fault injection nothing fails.
    #[cfg(not(feature = "fault-injection"))]
    pub fn fail(&self, _env: &TaskEnvelope) -> store::Result<()> {
        Ok(())
    }

    /// Without fault injection there is nothing to reach.
    #[cfg(not(feature = "fault-injection"))]
    pub async fn reach(&self, _point: FaultPoint, _env: &TaskEnvelope) {}
}
