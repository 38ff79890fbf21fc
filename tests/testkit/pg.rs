//! A PostgreSQL server of the test's own (initdb into a temporary folder, a free port), for
//! tests that stop and restart PostgreSQL without touching the machine's shared server.

use std::path::PathBuf;
use std::process::Command;

pub struct PgServer {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// Server certificate and key: TLS on, and required for TCP connections.
    tls: Option<(PathBuf, PathBuf)>,
}

fn bin_dir() -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL server binaries in /usr/lib/postgresql");
    let mut dirs: Vec<PathBuf> = versions
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop().expect("an initdb under /usr/lib/postgresql/*/bin")
}

/// Runs a PostgreSQL tool, as the `postgres` user when this process is root (initdb refuses root).
fn run(bin: &std::path::Path, tool: &str, args: &[&str]) {
    let program = bin.join(tool);
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let mut command = if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    let output = command
        .args(args)
        .current_dir("/tmp")
        .output()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"));
    assert!(
        output.status.success(),
        "{tool} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl PgServer {
    /// Creates and starts a fresh cluster.
    pub fn start() -> PgServer {
        PgServer::create(None)
    }

    /// Creates and starts a fresh cluster that accepts TCP connections only over TLS, with
    /// this certificate and key.
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> PgServer {
        PgServer::create(Some((cert.to_owned(), key.to_owned())))
    }

    fn create(tls: Option<(PathBuf, PathBuf)>) -> PgServer {
        let dir = std::env::temp_dir().join(format!("cartwright-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create cluster folder");
        let _ = Command::new("chown")
            .args(["postgres:postgres", &dir.to_string_lossy()])
            .status();
        let server = PgServer {
            port: crate::free_port(),
            dir,
            bin: bin_dir(),
            tls,
        };
        let data = server.dir.to_string_lossy().to_string();
        run(
            &server.bin,
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
        );
        if server.tls.is_some() {
            let hba = "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n";
            std::fs::write(server.dir.join("pg_hba.conf"), hba).expect("writing pg_hba.conf");
        }
        server.start_again();
        server
    }

    /// Starts the cluster (again) on the same port and data.
    pub fn start_again(&self) {
        let data = self.dir.to_string_lossy().to_string();
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp -c max_connections=200",
            self.port
        );
        if let Some((cert, key)) = &self.tls {
            options.push_str(&format!(" -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}", cert.display(), key.display()));
        }
        let log = self.dir.join("server.log").to_string_lossy().to_string();
        run(
            &self.bin,
            "pg_ctl",
            &["-D", &data, "-o", &options, "-l", &log, "-w", "-t", "60", "start"],
        );
    }

    /// Stops the cluster (fast shutdown: clients are disconnected, transactions rolled back).
    pub fn stop(&self) {
        let data = self.dir.to_string_lossy().to_string();
        run(&self.bin, "pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
    }

    /// The admin URL (database `postgres`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.to_string_lossy().to_string();
        let _ = std::panic::catch_unwind(|| run(&self.bin, "pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
