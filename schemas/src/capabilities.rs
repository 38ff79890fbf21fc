//! The UCP capabilities negotiated with a client, as a task carries them from the ingress to
//! the worker.
//!
//! Each negotiated capability is one of the business's own ([`business_capabilities`]), whose
//! name says the rest, so [`Capabilities`] is stored (`tasks.capabilities`,
//! `sessions.capabilities`) and queued as a list of names: about 150 bytes per task where the
//! full objects took 1 KB, which PostgreSQL parsed and wrote to its log and JetStream stored for
//! every accepted task (BENCHMARKS.md, issue 11). Reading also takes the full objects, as tasks
//! and messages recorded before held them; a name the business no longer has is dropped.

use std::ops::Deref;
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ucp::{Capability, VERSION};

/// The capabilities negotiated with one client: a shared list, cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities(Arc<[Capability]>);

/// The UCP capabilities this runtime implements: checkout, with fulfillment, discounts and
/// buyer consent, and orders.
pub fn business_capabilities() -> &'static [Capability] {
    static OURS: LazyLock<Vec<Capability>> = LazyLock::new(|| {
        let capability = |name: &str, extends: Option<&str>| {
            let short = name.rsplit('.').next().unwrap_or(name);
            Capability {
                name: name.to_owned(),
                version: VERSION.to_owned(),
                spec: Some(format!("https://ucp.dev/specs/shopping/{short}")),
                schema: Some(format!("https://ucp.dev/schemas/shopping/{short}.json")),
                extends: extends.map(str::to_owned),
            }
        };
        vec![
            capability("dev.ucp.shopping.checkout", None),
            capability("dev.ucp.shopping.fulfillment", Some("dev.ucp.shopping.checkout")),
            capability("dev.ucp.shopping.discount", Some("dev.ucp.shopping.checkout")),
            capability("dev.ucp.shopping.buyer_consent", Some("dev.ucp.shopping.checkout")),
            capability("dev.ucp.shopping.order", None),
        ]
    });
    &OURS
}

impl Capabilities {
    /// All of the business's capabilities.
    pub fn all() -> Capabilities {
        Capabilities(business_capabilities().into())
    }
}

impl From<Vec<Capability>> for Capabilities {
    fn from(list: Vec<Capability>) -> Self {
        Capabilities(list.into())
    }
}

impl Deref for Capabilities {
    type Target = [Capability];

    fn deref(&self) -> &[Capability] {
        &self.0
    }
}

impl Serialize for Capabilities {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|c| c.name.as_str()))
    }
}

/// One stored entry: a name (as written now) or a whole capability (as written before).
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Name(String),
    Object(Capability),
}

impl<'de> Deserialize<'de> for Capabilities {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = Vec::<Stored>::deserialize(deserializer)?;
        Ok(Capabilities(
            stored
                .into_iter()
                .filter_map(|entry| match entry {
                    Stored::Object(capability) => Some(capability),
                    Stored::Name(name) => business_capabilities().iter().find(|c| c.name == name).cloned(),
                })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_travel_as_names_and_come_back_whole() {
        let negotiated = Capabilities::from(vec![
            business_capabilities()[0].clone(),
            business_capabilities()[4].clone(),
        ]);
        let json = serde_json::to_string(&negotiated).unwrap();
        assert_eq!(json, r#"["dev.ucp.shopping.checkout","dev.ucp.shopping.order"]"#);
        assert_eq!(serde_json::from_str::<Capabilities>(&json).unwrap(), negotiated);
    }

    #[test]
    fn objects_written_before_are_read_and_unknown_names_dropped() {
        let old = serde_json::json!([{"name": "dev.ucp.shopping.checkout", "version": "2025-06-01"}, "dev.ucp.gone"]);
        let read: Capabilities = serde_json::from_value(old).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].version, "2025-06-01");
        assert!(serde_json::from_str::<Capabilities>("{}").is_err());
    }
}
