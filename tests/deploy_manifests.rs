//! deploy/ checked offline (no Docker engine or cluster runs here): the Kubernetes manifests
//! against the API schemas of `kubernetes-validate` plus the references no schema sees (selectors,
//! Secret keys, probes, grace periods longer than the drain, the scalers reading the queue-depth
//! metric), compose.yaml's services and restart policies, the Dockerfile's stages, user and
//! health check, and every setting they name being one the README documents
//! (`tests/python/check_deploy.py`). Then every command the image, compose and the manifests run
//! is run here with `--help` against the built binaries, so a renamed binary, subcommand or flag
//! fails this test, and every file those commands name exists in the repository. Where a
//! Compose v2 CLI is installed, `docker compose config -q` parses compose.yaml too.

use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn deploy_files_are_consistent_and_their_commands_exist() {
    let root = testkit::repo_root();
    let output = Command::new(testkit::python())
        .arg(root.join("tests/python/check_deploy.py"))
        .arg(&root)
        .output()
        .expect("the project's Python runs (make test installs it into .tools/)");
    assert!(
        output.status.success(),
        "check_deploy.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("check_deploy.py prints JSON");
    let errors: Vec<&str> = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(errors.is_empty(), "deploy/ has mistakes:\n{}", errors.join("\n"));

    let commands: BTreeSet<Vec<String>> = serde_json::from_value(report["commands"].clone()).expect("commands");
    let programs: BTreeSet<&str> = commands.iter().map(|c| c[0].as_str()).collect();
    assert!(
        programs.contains("cartwright-ingress") && programs.contains("cartwright-worker"),
        "deploy/ runs both binaries: {programs:?}"
    );
    for command in &commands {
        let program = testkit::bin_dir().join(&command[0]);
        let help = Command::new(&program)
            .args(&command[1..])
            .arg("--help")
            .output()
            .unwrap_or_else(|e| panic!("{command:?}: {} does not run: {e}", program.display()));
        assert!(
            help.status.success(),
            "{command:?} is not a command the binaries accept:\n{}",
            String::from_utf8_lossy(&help.stderr)
        );
        for path in command[1..].iter().filter(|a| a.contains('/') && !a.starts_with('-')) {
            assert!(root.join(path).exists(), "{command:?} names {path}, which the image does not carry");
        }
    }

    compose_config_parses(&root);
}

/// `docker compose config -q`, when a Compose v2 CLI is installed (it is not on the machine this
/// project is built on; the structure is checked by check_deploy.py either way).
fn compose_config_parses(root: &std::path::Path) {
    let installed = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        eprintln!("no Compose v2 CLI here: compose.yaml checked by check_deploy.py only");
        return;
    }
    let secrets = std::env::temp_dir().join(format!("cartwright-compose-{}", std::process::id()));
    std::fs::create_dir_all(&secrets).expect("secrets folder");
    for name in ["postgres_password", "database_url", "auth_jwt_secret", "payment_key"] {
        std::fs::write(secrets.join(name), "x").expect("secret file");
    }
    let output = Command::new("docker")
        .args(["compose", "-f"])
        .arg(root.join("deploy/compose.yaml"))
        .args(["config", "-q"])
        .env("CARTWRIGHT_SECRETS_DIR", &secrets)
        .output()
        .expect("docker compose runs");
    let _ = std::fs::remove_dir_all(&secrets);
    assert!(
        output.status.success(),
        "docker compose config rejects compose.yaml:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
