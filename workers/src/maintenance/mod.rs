//! Background services of the workers, one file each.
//!
//! - [`dead_letterer`]: turns the server's max-deliveries and terminated advisories into dead
//!   letters.
//! - [`reconciler`]: republishes tasks recorded in PostgreSQL but never applied.
//! - [`retention`]: purges processed-message records, finished tasks and idle conversations.
//! - [`session_sweeper`]: deletes idle sessions and their journals, expires old checkouts.
//! - [`stuck_sweeper`]: fails tasks stuck in `working`, so their conversations go on.

pub mod dead_letterer;
pub mod reconciler;
pub mod retention;
pub mod session_sweeper;
pub mod stuck_sweeper;
