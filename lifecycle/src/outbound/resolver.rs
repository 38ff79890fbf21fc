//! The outbound client's DNS resolver: it resolves a host and hands the connector only the
//! addresses the allow-list permits (see `allowlist`). The connection goes to exactly these
//! addresses, so a name that resolves to a public address when checked and to a private one
//! when connecting (DNS rebinding) cannot slip through: there is no second resolution.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::allowlist::{check_address, Allowlist, Refused, Standing};

/// Resolves with the system resolver and drops refused addresses.
pub struct FilteringResolver {
    pub allowlist: Arc<Allowlist>,
}

impl Resolve for FilteringResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowlist = self.allowlist.clone();
        Box::pin(async move {
            let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
            // The port was checked with the URL; here an exact entry for the host on any port
            // is what permits private addresses.
            let standing = if allowlist.names_exactly(&host) { Standing::Exact } else { Standing::Public };
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| Box::new(Refused::Unresolved) as Box<dyn std::error::Error + Send + Sync>)?
                .collect();
            let mut refusal = Refused::Unresolved;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match check_address(addr.ip(), standing) {
                    Ok(()) => true,
                    Err(refused) => {
                        refusal = refused;
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(refusal) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}
