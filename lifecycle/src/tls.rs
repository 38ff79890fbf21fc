//! Outbound HTTPS trust (UCP profiles, the JWK set, model providers): rustls with the
//! platform's root certificates, plus the CA certificates of `HTTP_CA_FILE` (a PEM bundle) for
//! servers with a private CA.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct HttpTrustArgs {
    /// A PEM file of CA certificates that outbound HTTPS trusts besides the platform's roots.
    #[arg(long, env = "HTTP_CA_FILE", global = true)]
    pub http_ca_file: Option<PathBuf>,
}

impl HttpTrustArgs {
    /// The extra CA certificates; an unreadable or empty file is an error naming it.
    pub fn certificates(&self) -> Result<Vec<reqwest::Certificate>, String> {
        let Some(path) = &self.http_ca_file else {
            return Ok(Vec::new());
        };
        let pem = std::fs::read(path).map_err(|e| format!("HTTP_CA_FILE: cannot read {}: {}", path.display(), e.kind()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|_| format!("HTTP_CA_FILE: {} is not a PEM certificate bundle", path.display()))?;
        if certificates.is_empty() {
            return Err(format!("HTTP_CA_FILE: {} holds no certificate", path.display()));
        }
        Ok(certificates)
    }
}

/// `builder`, also trusting `certificates`.
pub fn trusting(builder: reqwest::ClientBuilder, certificates: &[reqwest::Certificate]) -> reqwest::ClientBuilder {
    certificates.iter().cloned().fold(builder, |b, c| b.add_root_certificate(c))
}
