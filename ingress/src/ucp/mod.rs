//! The UCP side of a request: the extension header, the client's profile and capability
//! negotiation.
//!
//! - [`agent_header`]: parsing `UCP-Agent: profile="<url>"; version="YYYY-MM-DD"`.
//! - [`allowlist`]: which profile URLs and addresses may be fetched (`UCP_PROFILE_ALLOWLIST`).
//! - [`resolver`]: the profile client's resolver, which connects only to permitted addresses.
//! - [`profiles`]: fetching client profiles (short timeouts, bounded size, cached, one fetch per
//!   URL at a time) and negotiating capabilities as the exact (name, version) intersection.

pub mod agent_header;
pub mod allowlist;
pub mod profiles;
pub mod resolver;
