//! One file per JSON-RPC method.

pub mod message_send;
pub mod tasks_cancel;
pub mod tasks_get;
