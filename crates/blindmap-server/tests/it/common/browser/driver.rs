//! Finding chromedriver and Chromium, and running chromedriver: started on a free loopback port,
//! spoken to in plain blocking HTTP where nothing async can run (at start-up checks and in `Drop`),
//! killed on drop.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long chromedriver may take to answer, and how often it is asked.
const STARTUP: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);

/// The two programs a session needs.
#[derive(Debug)]
pub(super) struct Binaries {
    pub(super) chromedriver: PathBuf,
    pub(super) chromium: PathBuf,
}

/// Finds chromedriver and Chromium through `env`, or says what is missing.
pub(super) fn locate(env: &impl Fn(&str) -> Option<OsString>) -> Result<Binaries, String> {
    let path = env("PATH").unwrap_or_default();
    let chromedriver = find_binary(
        env,
        "BLINDMAP_CHROMEDRIVER",
        &path,
        &["chromedriver"],
        &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
    );
    let chromium = find_binary(
        env,
        "BLINDMAP_CHROMIUM",
        &path,
        &["chromium", "chromium-browser", "google-chrome"],
        &["/usr/lib/chromium/chromium"],
    );
    match (chromedriver, chromium) {
        (Ok(chromedriver), Ok(chromium)) => Ok(Binaries { chromedriver, chromium }),
        (Err(missing), Ok(_)) | (Ok(_), Err(missing)) => Err(missing),
        (Err(a), Err(b)) => Err(format!("{a}, and {b}")),
    }
}

/// `override_var`'s path if set (even a missing one: the override is what the test asked for),
/// else the first of `names` on `path`, else the first of `fallbacks` that exists.
fn find_binary(
    env: &impl Fn(&str) -> Option<OsString>,
    override_var: &str,
    path: &OsString,
    names: &[&str],
    fallbacks: &[&str],
) -> Result<PathBuf, String> {
    if let Some(chosen) = env(override_var) {
        let chosen = PathBuf::from(chosen);
        return if is_executable(&chosen) {
            Ok(chosen)
        } else {
            Err(format!("{override_var}={} is no executable", chosen.display()))
        };
    }
    let on_path = names.iter().flat_map(|name| std::env::split_paths(path).map(move |dir| dir.join(name)));
    on_path
        .chain(fallbacks.iter().map(PathBuf::from))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| format!("no {} (looked on PATH and at {})", names[0], fallbacks.join(", ")))
}

fn is_executable(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A running chromedriver, killed on drop. Killing it does not end the Chromium it started:
/// close the session first (`delete_session`).
pub(super) struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Driver {
    /// Starts `chromedriver` on a free loopback port, logging to `log`, and waits until it is
    /// ready for a session. A port taken between asking and binding makes it exit: then it is
    /// tried again on another.
    pub(super) async fn start(chromedriver: &Path, log: PathBuf) -> Self {
        for _attempt in 0..3 {
            let port = free_port();
            let child = Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()));
            let mut driver = Self { child, port, log: log.clone() };
            let deadline = Instant::now() + STARTUP;
            loop {
                if driver.child.try_wait().expect("chromedriver's status").is_some() {
                    break;
                }
                if driver.ready() {
                    return driver;
                }
                assert!(
                    Instant::now() < deadline,
                    "chromedriver did not answer on port {port} within {STARTUP:?}:\n{}",
                    driver.log_tail()
                );
                tokio::time::sleep(POLL).await;
            }
        }
        panic!("chromedriver exited three times on start:\n{}", log_tail(&log));
    }

    /// Where the WebDriver client connects.
    pub(super) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Whether chromedriver says it is ready for a new session.
    fn ready(&self) -> bool {
        let Ok(answer) = self.request("GET /status", Duration::from_secs(2)) else { return false };
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        serde_json::from_str::<Value>(body).is_ok_and(|status| status["value"]["ready"] == true)
    }

    /// Closes `session`, which ends its Chromium; whether that worked.
    pub(super) fn delete_session(&self, session: &str) -> bool {
        self.request(&format!("DELETE /session/{session}"), Duration::from_secs(10))
            .is_ok_and(|answer| answer.starts_with("HTTP/1.1 200"))
    }

    /// The last lines of chromedriver's log, for failure messages.
    pub(super) fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// One bodiless request (`"METHOD /path"`) and its whole answer, head and body, in plain
    /// blocking I/O. The body is read by its `Content-Length`: chromedriver answers
    /// `Connection: close` but keeps the connection open.
    fn request(&self, request: &str, timeout: Duration) -> std::io::Result<String> {
        let port = self.port;
        let mut stream = TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let request =
            format!("{request} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes())?;
        let mut answer = Vec::new();
        let mut chunk = [0_u8; 4096];
        loop {
            let read = stream.read(&mut chunk)?;
            answer.extend_from_slice(&chunk[..read]);
            let text = String::from_utf8_lossy(&answer);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .filter_map(|line| line.split_once(':'))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, value)| value.trim().parse::<usize>().ok());
                if read == 0 || length.is_some_and(|length| body.len() >= length) {
                    return Ok(text.into_owned());
                }
            } else if read == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free loopback port");
    probe.local_addr().expect("the probe's address").port()
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_else(|e| format!("(no log at {}: {e})", log.display()));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
