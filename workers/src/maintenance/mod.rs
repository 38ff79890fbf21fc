//! Background services of the workers, one file each.
//!
//! - [`reconciler`]: republishes tasks recorded in PostgreSQL but never applied.
//! - [`session_sweeper`]: deletes idle sessions and their journals, expires old checkouts.

pub mod reconciler;
pub mod session_sweeper;
