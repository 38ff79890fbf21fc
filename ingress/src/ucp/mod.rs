//! The UCP side of a request: the extension header, the client's profile and capability
//! negotiation.
//!
//! - [`agent_header`]: parsing `UCP-Agent: profile="<url>"; version="YYYY-MM-DD"`.
//! - [`profiles`]: fetching client profiles (short timeouts, bounded size, cached, one fetch per
//!   URL at a time) and negotiating capabilities as the exact (name, version) intersection.

pub mod agent_header;
pub mod profiles;
