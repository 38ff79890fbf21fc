//! The commerce engine: deterministic actions over the catalog and a conversation's checkout.
//!
//! - [`checkout`]: the checkout state machine and its totals, pure (no I/O).
//! - [`actions`]: runs one action inside the turn's transaction: reads and writes the store.

pub mod actions;
pub mod checkout;
