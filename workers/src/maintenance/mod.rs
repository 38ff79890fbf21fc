//! Background services of the workers, one file each.
//!
//! - [`reconciler`]: republishes tasks recorded in PostgreSQL but never applied.

pub mod reconciler;
