//! Task states (A2A 0.3 spelling). The PostgreSQL enum `task_state` holds the same names.

use serde::{Deserialize, Serialize};

/// Where a task is in its life. Terminal states never change again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskState {
    /// Entered when the ingress records the task and publishes it. Left when a worker commits
    /// the turn (to `completed` or `failed`) or when the owner cancels it (to `canceled`).
    Submitted,
    /// Entered when a worker starts a turn that takes long (LLM calls). Left like `submitted`.
    Working,
    /// Entered when the agent needs more from the user; the turn is over but the task is not.
    InputRequired,
    /// Terminal: the turn ran and its result is in the status message and artifacts.
    Completed,
    /// Terminal: the owner canceled the task before a worker ran it.
    Canceled,
    /// Terminal: the turn could not run (for example the conversation's checkout expired).
    Failed,
    /// Terminal: the agent refused the task.
    Rejected,
}

impl TaskState {
    /// Every state, in the order the schema declares them.
    pub const ALL: [TaskState; 7] = [
        TaskState::Submitted,
        TaskState::Working,
        TaskState::InputRequired,
        TaskState::Completed,
        TaskState::Canceled,
        TaskState::Failed,
        TaskState::Rejected,
    ];

    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Submitted => "submitted",
            TaskState::Working => "working",
            TaskState::InputRequired => "input-required",
            TaskState::Completed => "completed",
            TaskState::Canceled => "canceled",
            TaskState::Failed => "failed",
            TaskState::Rejected => "rejected",
        }
    }

    /// Parses the wire and database name.
    pub fn parse(s: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// No further change is possible.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Canceled | TaskState::Failed | TaskState::Rejected
        )
    }

    /// A blocking `message/send` returns once the task is in one of these states.
    pub fn ends_wait(self) -> bool {
        self.is_terminal() || self == TaskState::InputRequired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for state in TaskState::ALL {
            assert_eq!(TaskState::parse(state.as_str()), Some(state));
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
        }
    }
}
