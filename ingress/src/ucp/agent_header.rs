//! The `UCP-Agent` request header: an RFC 8941 dictionary with a `profile` string (the URL of
//! the client's UCP profile) and an optional `version` string.

use crate::error::Error;

/// The longest profile URL accepted.
pub const MAX_PROFILE_URL_LEN: usize = 2048;

/// What a `UCP-Agent` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UcpAgent {
    pub profile: String,
    pub version: Option<String>,
}

/// Parses the header value; every failure names what is wrong.
pub fn parse(value: Option<&str>) -> Result<UcpAgent, Error> {
    let value = value.ok_or_else(|| {
        Error::InvalidParams("the UCP-Agent header is required: UCP-Agent: profile=\"<profile url>\"".into())
    })?;
    let mut profile = None;
    let mut version = None;
    for member in value.split([';', ',']) {
        let member = member.trim();
        if member.is_empty() {
            continue;
        }
        let (key, raw) = member
            .split_once('=')
            .ok_or_else(|| malformed(&format!("member {member:?} is not key=\"value\"")))?;
        let text = raw
            .trim()
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .ok_or_else(|| malformed(&format!("{} must be a quoted string", key.trim())))?;
        match key.trim() {
            "profile" => profile = Some(text.to_owned()),
            "version" => version = Some(text.to_owned()),
            _ => {}
        }
    }
    let profile = profile.ok_or_else(|| malformed("it has no profile=\"<url>\""))?;
    if profile.len() > MAX_PROFILE_URL_LEN {
        return Err(malformed("the profile URL is too long"));
    }
    if !(profile.starts_with("http://") || profile.starts_with("https://")) {
        return Err(malformed("the profile must be an http(s) URL"));
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
        let agent = parse(Some(r#"profile="https://agent.example/p.json"; version="2026-01-11""#)).unwrap();
        assert_eq!(agent.profile, "https://agent.example/p.json");
        assert_eq!(agent.version.as_deref(), Some("2026-01-11"));
    }

    #[test]
    fn refuses_missing_and_malformed_headers() {
        for bad in [
            None,
            Some(""),
            Some("profile=https://x"),
            Some(r#"profile="ftp://x""#),
            Some(r#"profile="...""#),
            Some("garbage"),
        ] {
            assert!(matches!(parse(bad), Err(Error::InvalidParams(_))), "{bad:?}");
        }
    }
}
