//! The whole system for one test: nats-server, a database, the ingress and N workers.

use std::time::Duration;

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

use crate::client::Client;
use crate::db::TestDb;
use crate::nats::NatsServer;
use crate::process::Proc;

/// The JWT secret of test stacks.
pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";
/// The payment credential key of every stack (`PAYMENT_KEY`).
pub const PAYMENT_KEY: &str = "test1:dGVzdC1wYXltZW50LWtleS0wMTIzNDU2Nzg5YWJjZGU=";

#[derive(Debug, Clone)]
pub struct StackOptions {
    pub workers: usize,
    pub partitions: u32,
    /// Seconds before an unacked delivery is redelivered (short, so crash tests are quick).
    pub ack_wait: u64,
    /// Extra environment for the first worker only (fault points).
    pub first_worker_env: Vec<(String, String)>,
    /// Extra environment for every worker.
    pub worker_env: Vec<(String, String)>,
    /// Extra environment for the ingress and every worker.
    pub env: Vec<(String, String)>,
    /// Connections per process's PostgreSQL pool.
    pub db_pool_size: u32,
    pub log_level: String,
    /// The PostgreSQL server to create the database on (default: `TEST_DATABASE_URL`).
    pub postgres_admin_url: Option<String>,
    /// The nats-server config file (default: the project's, [`crate::nats::CONFIG`]).
    pub nats_config: &'static str,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            workers: 2,
            partitions: 8,
            ack_wait: 3,
            first_worker_env: Vec::new(),
            worker_env: Vec::new(),
            env: Vec::new(),
            db_pool_size: 8,
            log_level: "info".to_owned(),
            postgres_admin_url: None,
            nats_config: crate::nats::CONFIG,
        }
    }
}

impl StackOptions {
    /// The defaults with `workers` worker processes.
    pub fn with_workers(workers: usize) -> StackOptions {
        StackOptions {
            workers,
            ..Default::default()
        }
    }
}

pub struct Stack {
    pub options: StackOptions,
    pub nats: NatsServer,
    pub db: TestDb,
    pub ingress: Option<Proc>,
    pub workers: Vec<Proc>,
    pub base_url: String,
    pub profile_base: String,
    port: u16,
}

impl Stack {
    pub async fn start(options: StackOptions) -> Stack {
        let nats = NatsServer::start_with(options.nats_config).await;
        let port = crate::free_port();
        let base_url = format!("http://127.0.0.1:{port}");
        let db = match &options.postgres_admin_url {
            Some(admin_url) => TestDb::create_on(admin_url, &base_url).await,
            None => TestDb::create(&base_url).await,
        };
        let profile_base = crate::profile::serve().await;
        let mut stack = Stack {
            options,
            nats,
            db,
            ingress: None,
            workers: Vec::new(),
            base_url,
            profile_base,
            port,
        };
        for i in 0..stack.options.workers {
            let extra = if i == 0 {
                stack.options.first_worker_env.clone()
            } else {
                Vec::new()
            };
            stack.start_worker(&extra).await;
        }
        stack.start_ingress().await;
        stack
    }

    /// The environment every process of the stack gets.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("DATABASE_URL", self.db.url.clone()),
            ("NATS_URL", self.nats.url()),
            ("PARTITIONS", self.options.partitions.to_string()),
            ("ACK_WAIT", self.options.ack_wait.to_string()),
            ("AUTH_JWT_SECRET", SECRET.to_owned()),
            ("PAYMENT_KEY", PAYMENT_KEY.to_owned()),
            // Every test's traffic comes from one IP and a few principals: limits off unless a
            // test sets them.
            ("RATE_LIMIT_PRINCIPAL", "0".to_owned()),
            ("RATE_LIMIT_IP", "0".to_owned()),
            // The test profile server, on loopback over http: allowed only because it is named.
            ("UCP_PROFILE_ALLOWLIST", self.profile_base.trim_start_matches("http://").to_owned()),
            ("PAYMENT_HANDLERS", "example_payment_provider,mock_payment_handler".to_owned()),
            ("AGENT_HOST", "127.0.0.1".to_owned()),
            ("AGENT_PORT", self.port.to_string()),
            ("PUBLIC_URL", self.base_url.clone()),
            ("RECONCILE_AFTER", "5".to_owned()),
            ("FETCH_PREDECESSOR_AFTER", "10".to_owned()),
            ("DB_POOL_SIZE", self.options.db_pool_size.to_string()),
            ("LOG_LEVEL", self.options.log_level.clone()),
            // Offline unless a test configures a provider: keys in the caller's environment
            // must not reach a real provider.
            ("LLM_PROVIDER", "offline".to_owned()),
            // Each worker's HTTP server on a free port (see `Stack::worker_url`).
            ("WORKER_HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(self.options.env.iter().cloned())
        .collect()
    }

    /// Starts the ingress and waits until `/ready` answers 200.
    pub async fn start_ingress(&mut self) {
        let binary = crate::bin_dir().join("cartwright-ingress");
        let process = Proc::spawn("ingress", &binary, &["serve"], &self.env());
        process.wait_for_log("ingress listening", Duration::from_secs(30)).await;
        self.ingress = Some(process);
        let url = format!("{}/ready", self.base_url);
        let http = reqwest::Client::new();
        crate::eventually(Duration::from_secs(30), "ingress /ready to answer 200", || {
            let request = http.get(&url).send();
            async move { request.await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
        })
        .await;
    }

    /// Starts another ingress replica on a port of its own, sharing the database and NATS;
    /// returns the process and a client for it.
    pub async fn start_replica(&self, principal: &str) -> (Proc, Client) {
        let port = crate::free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut env = self.env();
        env.push(("AGENT_PORT".to_owned(), port.to_string()));
        env.push(("PUBLIC_URL".to_owned(), base.clone()));
        let binary = crate::bin_dir().join("cartwright-ingress");
        let process = Proc::spawn("ingress-replica", &binary, &["serve"], &env);
        process.wait_for_log("ingress listening", Duration::from_secs(30)).await;
        let mut client = self.client(principal);
        client.base = base;
        (process, client)
    }

    /// Starts one more worker and waits until it pulls.
    pub async fn start_worker(&mut self, extra_env: &[(String, String)]) -> usize {
        let binary = crate::bin_dir().join("cartwright-worker");
        let mut env = self.env();
        env.extend(self.options.worker_env.iter().cloned());
        env.extend(extra_env.iter().cloned());
        let name = format!("worker-{}", self.workers.len());
        let process = Proc::spawn(&name, &binary, &[], &env);
        process.wait_for_log("worker started", Duration::from_secs(30)).await;
        self.workers.push(process);
        self.workers.len() - 1
    }

    /// The base URL of worker `i`'s HTTP server (`/health`, `/ready`, `/metrics`), from its
    /// start-up log line.
    pub fn worker_url(&self, i: usize) -> String {
        let output = self.workers[i].output();
        let line = output
            .lines()
            .find(|line| line.contains("worker started"))
            .unwrap_or_else(|| panic!("worker {i} logged no start: {output}"));
        let event: serde_json::Value = serde_json::from_str(line).expect("JSON log line");
        let addr = event["fields"]["http_addr"].as_str().expect("http_addr in the start line");
        format!("http://{addr}")
    }

    /// Gracefully stops the ingress and every worker.
    pub async fn stop_processes(&mut self) {
        if let Some(mut ingress) = self.ingress.take() {
            ingress.terminate(Duration::from_secs(15)).await;
        }
        for mut worker in self.workers.drain(..) {
            worker.terminate(Duration::from_secs(15)).await;
        }
    }

    /// Runs `cartwright-ingress <args>` with the stack's environment: (succeeded, stdout,
    /// stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let out = std::process::Command::new(crate::bin_dir().join("cartwright-ingress"))
            .args(args)
            .envs(self.env())
            .output()
            .expect("the CLI runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A client authenticated as `principal`.
    pub fn client(&self, principal: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: self.base_url.clone(),
            token: token(principal, 3600),
            profile: format!("{}/profile.json", self.profile_base),
        }
    }
}

/// A token for `principal` whose `exp` is `valid_for_secs` from now (negative: already expired).
pub fn token(principal: &str, valid_for_secs: i64) -> String {
    token_with_roles(principal, valid_for_secs, &[])
}

/// A token for `principal` with the `roles` claim (`["admin"]` for the admin API).
pub fn token_with_roles(principal: &str, valid_for_secs: i64, roles: &[&str]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let claims = json!({ "sub": principal, "exp": now + valid_for_secs, "roles": roles });
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("encode token")
}
