//! A real OpenID provider for the single sign-on tests: `tests/oidc/provider.mjs` — the certified
//! `oidc-provider` package from npm, with its built-in login page — run by Node on a loopback
//! port, with one confidential client (PKCE required) and the accounts the script lists (`ada`
//! in `blindmap-admins`, `rita` in `blindmap-reps`, `nemo` in neither, `olga` in
//! `blindmap-reps` at another e-mail domain). Killed on drop.
//!
//! `scripts/test.sh` installs it (`npm ci --prefix tests/oidc`) and sets `BLINDMAP_REQUIRE_OIDC`
//! under CI and wherever Node is installed; then a provider that cannot start fails the test.
//! Otherwise (no Node, no `tests/oidc/node_modules`) `start()` returns `None` and the test skips
//! with a note.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) const CLIENT_ID: &str = "blindmap-node";
pub(crate) const CLIENT_SECRET: &str = "test-client-secret-0123456789";

pub(crate) struct Provider {
    child: Child,
    /// `http://127.0.0.1:PORT`, as its discovery document states it.
    pub issuer: String,
}

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc")
}

fn unavailable(why: String) -> Option<Provider> {
    if std::env::var_os("BLINDMAP_REQUIRE_OIDC").is_some() {
        panic!("the OpenID provider cannot start, and BLINDMAP_REQUIRE_OIDC is set: {why}");
    }
    eprintln!("skipping: no OpenID provider ({why}); `npm ci --prefix tests/oidc` with Node installed runs it");
    None
}

impl Provider {
    /// A provider whose client sends users back to `redirect_uri`, answering discovery, or
    /// `None` where it cannot run (see the module's comment).
    pub(crate) async fn start(redirect_uri: &str) -> Option<Self> {
        let dir = folder();
        if !dir.join("node_modules/oidc-provider").is_dir() {
            return unavailable(format!("{} has no node_modules/oidc-provider", dir.display()));
        }
        let spawned = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, "--redirect-uri", redirect_uri])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return unavailable(format!("cannot run node: {e}")),
        };
        // The first line says where it listens; read it on a thread of its own, with a time limit.
        // The thread reads on until the provider ends: a closed pipe would end the provider at
        // its next line.
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let Some(issuer) = line.trim().strip_prefix("listening ").map(str::to_owned) else {
            let _ = child.kill();
            let _ = child.wait();
            return unavailable(format!("provider.mjs did not say where it listens (it printed {line:?})"));
        };
        let provider = Self { child, issuer };
        for _ in 0..100 {
            if provider.discovery_answers() {
                return Some(provider);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        unavailable(format!("{}/.well-known/openid-configuration does not answer", provider.issuer))
    }

    /// Whether its discovery document answers 200 (plain HTTP/1.0 on loopback).
    fn discovery_answers(&self) -> bool {
        use std::io::{Read, Write};
        let Some(addr) = self.issuer.strip_prefix("http://") else { return false };
        let Ok(mut stream) = std::net::TcpStream::connect(addr) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request = format!("GET /.well-known/openid-configuration HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        let mut answer = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut answer).is_ok()
            && answer.starts_with("HTTP/1.1 200")
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
