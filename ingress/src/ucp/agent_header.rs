//! The `UCP-Agent` request header: an RFC 8941 (RFC 9651) dictionary with a `profile` string
//! (the URL of the client's UCP profile) and an optional `version` string (a member, or a
//! parameter of `profile`), parsed by `sfv`:
//! quoted strings may hold `;`, `,` and escaped quotes, parameters and other members are
//! allowed and ignored.

use sfv::{BareItem, Dictionary, ListEntry, Parser};

use crate::error::Error;

/// The longest profile URL accepted.
pub const MAX_PROFILE_URL_LEN: usize = 2048;
/// The longest header value parsed.
pub const MAX_HEADER_LEN: usize = 4096;

/// What a `UCP-Agent` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UcpAgent {
    pub profile: String,
    pub version: Option<String>,
}

/// Parses the header value, whose profile must be an http(s) URL; every failure names what is
/// wrong.
pub fn parse(value: Option<&str>) -> Result<UcpAgent, Error> {
    let agent = parse_fields(value)?;
    if !(agent.profile.starts_with("http://") || agent.profile.starts_with("https://")) {
        return Err(malformed("the profile must be an http(s) URL"));
    }
    Ok(agent)
}

/// Parses the header value's fields, whatever the profile string holds.
pub fn parse_fields(value: Option<&str>) -> Result<UcpAgent, Error> {
    let value = value.ok_or_else(|| {
        Error::InvalidParams("the UCP-Agent header is required: UCP-Agent: profile=\"<profile url>\"".into())
    })?;
    if value.len() > MAX_HEADER_LEN {
        return Err(malformed(&format!("it is longer than {MAX_HEADER_LEN} bytes")));
    }
    let dictionary: Dictionary = Parser::new(value)
        .parse()
        .map_err(|e| malformed(&format!("it is not an RFC 8941 dictionary ({e})")))?;
    let string = |key: &str| -> Result<Option<String>, Error> {
        match dictionary.get(key) {
            None => Ok(None),
            Some(ListEntry::Item(item)) => match &item.bare_item {
                BareItem::String(text) => Ok(Some(text.as_str().to_owned())),
                _ => Err(malformed(&format!("{key} must be a quoted string"))),
            },
            Some(ListEntry::InnerList(_)) => Err(malformed(&format!("{key} must be a quoted string, not a list"))),
        }
    };
    let profile = string("profile")?.ok_or_else(|| malformed("it has no profile=\"<url>\""))?;
    let parameter = match dictionary.get("profile") {
        Some(ListEntry::Item(item)) => match item.params.get("version") {
            Some(BareItem::String(text)) => Some(text.as_str().to_owned()),
            Some(_) => return Err(malformed("version must be a quoted string")),
            None => None,
        },
        _ => None,
    };
    let version = string("version")?.or(parameter);
    if profile.len() > MAX_PROFILE_URL_LEN {
        return Err(malformed("the profile URL is too long"));
    }
    Ok(UcpAgent { profile, version })
}

fn malformed(reason: &str) -> Error {
    Error::InvalidParams(format!("malformed UCP-Agent header: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_profile_and_version() {
        let agent = parse(Some(r#"profile="https://agent.example/p.json", version="2026-01-11""#)).unwrap();
        assert_eq!(agent.profile, "https://agent.example/p.json");
        assert_eq!(agent.version.as_deref(), Some("2026-01-11"));
        let bare = parse(Some(r#"profile="https://agent.example/p.json""#)).unwrap();
        assert_eq!(bare.version, None);
        let parameter = parse(Some(r#"profile="https://agent.example/p.json"; version="2026-01-11""#)).unwrap();
        assert_eq!(parameter.version.as_deref(), Some("2026-01-11"));
    }

    #[test]
    fn quoted_strings_may_hold_separators() {
        let agent = parse(Some(r#"profile="https://agent.example/p.json?a=1;b=2,c=\"3\"";x=1, other=?1"#)).unwrap();
        assert_eq!(agent.profile, r#"https://agent.example/p.json?a=1;b=2,c="3""#);
    }

    #[test]
    fn refuses_missing_and_malformed_headers() {
        for bad in [
            None,
            Some(""),
            Some("profile=https://x"),
            Some(r#"profile="ftp://x""#),
            Some(r#"profile="...""#),
            Some("garbage here"),
            Some(r#"profile=("https://a" "https://b")"#),
            Some(r#"profile="https://x", version=2026"#),
            Some(r#"profile="https://x";version=2026"#),
        ] {
            assert!(matches!(parse(bad), Err(Error::InvalidParams(_))), "{bad:?}");
        }
        let long = format!(r#"profile="https://x/{}""#, "a".repeat(MAX_HEADER_LEN));
        assert!(parse(Some(&long)).is_err());
    }

    /// A bounded fuzz run over the header parser (`PROPTEST_CASES` raises it).
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_headers_never_panic(value in "\\PC{0,300}") {
                let _ = parse(Some(&value));
            }

            #[test]
            fn structured_noise_never_panics(value in "[a-z=\";, ()?*:0-9\\\\]{0,200}") {
                let _ = parse(Some(&value));
            }

            #[test]
            fn any_quoted_url_round_trips(path in "[a-zA-Z0-9/;,=?&._~-]{0,100}", version in "[0-9]{4}-[0-9]{2}-[0-9]{2}") {
                let header = format!(r#"profile="https://agent.example/{path}", version="{version}""#);
                let agent = parse(Some(&header)).expect("well formed");
                prop_assert_eq!(agent.profile, format!("https://agent.example/{path}"));
                prop_assert_eq!(agent.version, Some(version));
            }
        }
    }
}
