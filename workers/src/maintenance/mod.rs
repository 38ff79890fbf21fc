//! Background services of the workers, one file each.
//!
//! - [`dead_letterer`]: turns the server's max-deliveries and terminated advisories into dead
//!   letters.
//! - [`reconciler`]: republishes tasks recorded in PostgreSQL but never applied.
//! - [`session_sweeper`]: deletes idle sessions and their journals, expires old checkouts.

pub mod dead_letterer;
pub mod reconciler;
pub mod session_sweeper;
