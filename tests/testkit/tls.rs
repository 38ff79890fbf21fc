//! Certificates for TLS tests, made by openssl in a temporary folder: a CA, and a server
//! certificate it signed for `localhost` and 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Certs {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Certs {
    /// A fresh CA and server certificate. The folder belongs to the user private PostgreSQL
    /// clusters run as, so they can use the key.
    pub fn generate() -> Certs {
        let dir = std::env::temp_dir().join(format!("cartwright-tls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a folder for certificates");
        openssl(&dir, &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Cartwright test CA",
            "-keyout", "ca.key", "-out", "ca.pem"]);
        openssl(&dir, &["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"]);
        std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n").unwrap();
        openssl(&dir, &["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "server.pem"]);
        if crate::pg::is_root() {
            let owner = crate::pg::os_user();
            let _ = Command::new("chown").args(["-R", &format!("{owner}:{owner}"), &*dir.to_string_lossy()]).status();
        }
        let _ = Command::new("chmod").args(["600", &dir.join("server.key").to_string_lossy()]).status();
        let _ = Command::new("chmod").args(["755", &dir.to_string_lossy()]).status();
        Certs {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            dir,
        }
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
