//! `deploy/` checked as far as this machine allows: the example configurations load as the node
//! loads them, the compose file and Kubernetes manifests parse and say what the node needs, the
//! container entry point initialises a node once, and the systemd unit passes
//! `systemd-analyze verify`.

use std::path::{Path, PathBuf};
use std::process::Command;

use blindmap_server::node::{ENVIRONMENT, NodeConfig};
use yaml_rust2::{Yaml, YamlLoader};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy().join(path)).unwrap_or_else(|e| panic!("deploy/{path}: {e}"))
}

fn config(text: &str, what: &str) -> NodeConfig {
    let config: NodeConfig = toml::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(config.public_url.starts_with("https://"), "{what}: public_url");
    config
}

#[test]
fn example_configurations_load() {
    let single = config(&read("config/node.toml"), "config/node.toml");
    assert!(single.database_url.starts_with("sqlite:"));
    let replicas = config(&read("config/node-postgres.toml"), "config/node-postgres.toml");
    assert!(replicas.database_url.starts_with("postgres://"));
    for line in read("config/env.example").lines().filter(|l| l.contains('=')) {
        let name = line.trim_start_matches('#').split('=').next().unwrap();
        assert!(ENVIRONMENT.iter().any(|v| v.name == name), "env.example sets {name}, which nothing reads");
    }
    let start = NodeConfig::load(&deploy().join("config"));
    assert!(start.is_ok(), "node.toml loads from a data folder as `serve` reads it: {start:?}");
}

/// Every `BLINDMAP_*` name the command line, the node and `deploy/` mention is in the one table,
/// and every name in the table is read somewhere.
#[test]
fn the_environment_table_is_complete() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut mentioned = std::collections::BTreeSet::new();
    let mut folders = vec![root.join("src"), root.join("crates/blindmap-server/src"), root.join("deploy")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            for (i, _) in text.match_indices("BLINDMAP_") {
                let name: String = text[i..].chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
                // Not the table itself, nor the switch that rewrites test vectors (a unit test's).
                if name != "BLINDMAP_" && name != "BLINDMAP_WRITE_VECTORS" && !path.ends_with("node/mod.rs") {
                    mentioned.insert(name);
                }
            }
        }
    }
    for name in &mentioned {
        assert!(ENVIRONMENT.iter().any(|v| v.name == name), "{name} is mentioned but not in node::ENVIRONMENT");
    }
    let node = std::fs::read_to_string(root.join("crates/blindmap-server/src/node/mod.rs")).unwrap();
    for v in ENVIRONMENT {
        let read = mentioned.contains(v.name) || node.matches(&format!("\"{}\"", v.name)).count() > 1;
        assert!(read, "{} is in node::ENVIRONMENT but nothing reads it", v.name);
    }
}

fn yaml(path: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(path)).unwrap_or_else(|e| panic!("deploy/{path}: {e}"))
}

#[test]
fn the_compose_file_runs_a_vendor_on_postgres_and_a_partner() {
    let doc = &yaml("compose.yaml")[0];
    let services = &doc["services"];
    for name in ["vendor", "partner", "vendor-db"] {
        assert!(!services[name].is_badvalue(), "service {name}");
    }
    assert_eq!(services["vendor"]["build"]["dockerfile"].as_str(), Some("deploy/Containerfile"));
    let url = services["vendor"]["environment"]["BLINDMAP_DATABASE_URL"].as_str().unwrap();
    assert!(url.starts_with("postgres://") && url.contains("@vendor-db:5432/"), "{url}");
    for name in ["vendor", "partner"] {
        let env = services[name]["environment"].as_hash().unwrap();
        for key in env.keys() {
            let key = key.as_str().unwrap();
            assert!(ENVIRONMENT.iter().any(|v| v.name == key), "compose sets {key} for {name}, which nothing reads");
        }
        let public = services[name]["environment"]["BLINDMAP_PUBLIC_URL"].as_str().unwrap();
        assert_eq!(public, format!("https://{name}:7443"), "partners dial the service by name");
    }
}

#[test]
fn kubernetes_runs_replicas_on_postgres() {
    let docs = yaml("kubernetes/blindmap.yaml");
    let kind = |k: &str| docs.iter().find(|d| d["kind"].as_str() == Some(k)).unwrap_or_else(|| panic!("no {k}"));
    let deployment = kind("Deployment");
    assert!(deployment["spec"]["replicas"].as_i64().unwrap() >= 2, "replicas");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["args"][0].as_str(), Some("serve"));
    let env = container["env"].as_vec().unwrap();
    for e in env {
        assert!(ENVIRONMENT.iter().any(|v| v.name == e["name"].as_str().unwrap()), "{e:?}");
    }
    let database = env.iter().find(|e| e["name"].as_str() == Some("BLINDMAP_DATABASE_URL")).unwrap();
    assert_eq!(database["valueFrom"]["secretKeyRef"]["name"].as_str(), Some("blindmap-database"));
    // Replicas on PostgreSQL share one secrets key, from a Secret (the node refuses to start without).
    let key = env.iter().find(|e| e["name"].as_str() == Some("BLINDMAP_SECRETS_KEY")).expect("the secrets key");
    assert_eq!(key["valueFrom"]["secretKeyRef"]["name"].as_str(), Some("blindmap-secrets-key"));
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"].as_bool(), Some(true));
    // The init container puts the key in place with the mode the node insists on.
    let init = pod["initContainers"][0]["args"][0].as_str().unwrap();
    assert!(init.contains("install -m 0600 /secret/node.key"), "{init}");
    let node_toml = kind("ConfigMap")["data"]["node.toml"].as_str().unwrap();
    config(node_toml, "the ConfigMap's node.toml");
    assert_eq!(kind("Service")["spec"]["ports"][0]["port"].as_i64(), Some(7443));
}

#[test]
fn the_container_build_uses_the_project_toolchain_and_entry_point() {
    let containerfile = read("Containerfile");
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let version = manifest.lines().find_map(|l| l.strip_prefix("rust-version = ")).unwrap().trim_matches('"');
    assert!(containerfile.contains(&format!("rust:{version}-")), "the build image is Rust {version}");
    assert!(containerfile.contains("COPY deploy/entrypoint.sh") && deploy().join("entrypoint.sh").exists());
    assert!(containerfile.contains("USER 10001"), "not root");
}

#[cfg(unix)]
#[test]
fn the_entry_point_initialises_a_node_once() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_blindmap")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let run = || {
        Command::new("sh")
            .arg(deploy().join("entrypoint.sh"))
            .args(["datasets", "--help"])
            .env("PATH", &path)
            .env("BLINDMAP_DATA_DIR", dir.path().join("data"))
            .env("BLINDMAP_ORGANISATION", "Example Vendor")
            .env("BLINDMAP_PUBLIC_URL", "https://blindmap.example.com:7443")
            .output()
            .unwrap()
    };
    let first = run();
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{out}{}", String::from_utf8_lossy(&first.stderr));
    assert!(out.contains("Initialised a node") && out.contains("Usage: blindmap datasets"), "{out}");
    let config = NodeConfig::load(&dir.path().join("data")).unwrap();
    assert_eq!(config.public_url, "https://blindmap.example.com:7443");
    for private in ["data", "data/identity/node.key", "data/secrets.key", "data/node.db"] {
        let meta = std::fs::metadata(dir.path().join(private)).unwrap();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077, 0, "{private}");
    }
    let second = run();
    assert!(second.status.success());
    assert!(!String::from_utf8_lossy(&second.stdout).contains("Initialised"), "initialised once");
}

/// `systemd-analyze verify` on the unit, with ExecStart pointing at the binary under test. CI
/// runs it (scripts/test.sh sets BLINDMAP_REQUIRE_SYSTEMD); elsewhere it needs systemd.
#[test]
fn the_systemd_unit_verifies() {
    let available = Command::new("systemd-analyze").arg("--version").output().is_ok_and(|o| o.status.success());
    if !available {
        assert!(std::env::var_os("BLINDMAP_REQUIRE_SYSTEMD").is_none(), "systemd-analyze is required here");
        eprintln!("systemd-analyze not found: skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = read("systemd/blindmap.service").replace("/usr/local/bin/blindmap", env!("CARGO_BIN_EXE_blindmap"));
    let path = dir.path().join("blindmap.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && !said.contains("blindmap.service:"), "{said}");
}
