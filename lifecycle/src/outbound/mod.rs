//! Outbound HTTP to URLs a platform gives (UCP profiles, order webhooks): which URLs and
//! addresses may be reached (`UCP_PROFILE_ALLOWLIST`), and a client that connects only there.
//!
//! - [`allowlist`]: the allow-list and the address rules.
//! - [`resolver`]: the DNS resolver that hands the connector only permitted addresses.

pub mod allowlist;
pub mod resolver;

pub use allowlist::{Allowlist, Refused};
pub use resolver::FilteringResolver;
