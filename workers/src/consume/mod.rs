//! Consuming the task stream.
//!
//! - [`partition`]: one pull loop per partition consumer; decodes envelopes and hands them on.
//! - [`conversations`]: a FIFO per conversation inside the worker: one turn at a time per
//!   conversation, any number of conversations at once.
//! - [`turns`]: ready turns of many conversations, applied in shared transactions.
//! - [`dead_letter`]: a message that cannot succeed: its task held, the dead letter stored.
//! - [`ack`]: the only place where a turn's outcome becomes a JetStream acknowledgement.
//! - [`keepalive`]: in-progress acks for messages held or being worked on.

pub mod ack;
pub mod conversations;
pub mod dead_letter;
pub mod keepalive;
pub mod partition;
pub mod turns;
