//! Secrets in configuration: read from a variable or from a file beside it (`<NAME>_FILE`, as
//! secret managers mount them), and never printed: `Debug` shows `[redacted]`, so a
//! configuration dump or an error that formats one leaks nothing.

use std::path::Path;

/// A secret value. Only [`Secret::expose`] reveals it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The secret named `name`: the variable's value if it is set and not blank, else the trimmed
/// contents of the file its `<name>_FILE` variable names, else `None`. An unreadable or empty
/// file is an error naming the variable and the path, never the contents.
pub fn resolve(value: Option<&Secret>, file: Option<&Path>, name: &str) -> Result<Option<Secret>, String> {
    if let Some(value) = value.filter(|s| !s.0.trim().is_empty()) {
        return Ok(Some(Secret(value.0.trim().to_owned())));
    }
    let Some(file) = file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("{name}_FILE: cannot read {}: {}", file.display(), e.kind()))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{name}_FILE: {} is empty", file.display()));
    }
    Ok(Some(Secret(text.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2-hunter2");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some([redacted])");
        assert_eq!(secret.expose(), "hunter2-hunter2");
    }

    #[test]
    fn the_variable_wins_then_the_file() {
        let dir = std::env::temp_dir().join(format!("cartwright-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("key");
        std::fs::write(&file, "from-file\n").unwrap();
        let set = Secret::new(" from-var ");
        assert_eq!(resolve(Some(&set), Some(&file), "K").unwrap(), Some(Secret::new("from-var")));
        assert_eq!(resolve(Some(&Secret::new(" ")), Some(&file), "K").unwrap(), Some(Secret::new("from-file")));
        assert_eq!(resolve(None, None, "K").unwrap(), None);
        std::fs::write(&file, "  \n").unwrap();
        assert!(resolve(None, Some(&file), "K").unwrap_err().contains("K_FILE"));
        let missing = dir.join("missing");
        let error = resolve(None, Some(&missing), "K").unwrap_err();
        assert!(error.starts_with("K_FILE: cannot read") && error.contains("not found"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
