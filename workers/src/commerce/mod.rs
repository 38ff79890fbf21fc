//! The commerce engine: deterministic actions over the catalog and a conversation's checkout,
//! and the UCP REST binding's operations on the same checkouts.
//!
//! - [`checkout`]: the checkout state machine, pure (no I/O).
//! - [`pricing`]: line totals, discounts, shipping options and tax from the merchant's rules, pure.
//! - [`actions`]: runs one A2A action inside the turn's transaction: reads and writes the store.
//! - [`checkout_sessions`]: runs one REST operation (create, update, complete, cancel).
//! - [`orders`]: the order a completed checkout places; order updates and shipping.

pub mod actions;
pub mod checkout;
pub mod checkout_sessions;
pub mod orders;
pub mod pricing;
