//! A real headless Chromium, driven over WebDriver, for tests of what a node serves to browsers.
//!
//! `Browser::start()` runs `chromedriver` on a free loopback port and opens one session in a
//! headless Chromium with a fresh profile that accepts the node's self-signed certificate (nodes
//! pin theirs by fingerprint; a browser has no way to). Everything is torn down on drop: the
//! session is closed (which ends Chromium) and chromedriver is killed.
//!
//! Where the browser comes from:
//! - `chromedriver`: `BLINDMAP_CHROMEDRIVER` if set (exactly that path, no fallback), else `PATH`,
//!   `/usr/bin/chromedriver`, `/usr/lib/chromium/chromedriver`;
//! - Chromium: `BLINDMAP_CHROMIUM` if set (likewise), else `chromium`, `chromium-browser`,
//!   `google-chrome` on `PATH`, `/usr/lib/chromium/chromium`.
//!
//! Without them `start()` returns `None` and the test skips with a note, unless
//! `BLINDMAP_REQUIRE_BROWSER` is set (`scripts/test.sh` sets it under CI and wherever Chromium is
//! installed): then it panics. `BLINDMAP_CHROMEDRIVER=/nonexistent` simulates a machine without
//! a browser.
//!
//! Helpers panic with what they were doing and on which page, like the rest of `common`; the
//! fantoccini client is there (`client()`) for anything they do not cover.
//!
//! Accessibility: `assert_accessible` runs axe-core (`tests/axe`, pinned by its lock file;
//! `npm ci --prefix tests/axe` installs it, `scripts/test.sh` does) in the current page and fails
//! on every serious or critical violation. axe is injected through WebDriver's execute-script,
//! which Chromium runs outside the page's Content-Security-Policy: the node's CSP (no scripts at
//! all) stays as it is, and still applies to everything the page itself would run.
//!
//! ```ignore
//! let Some(browser) = Browser::start().await else { return };
//! browser.goto(&format!("{base}/login")).await;
//! browser.fill("#token", token).await;
//! browser.submit("form#login").await;
//! browser.wait_for("h1.overview", Duration::from_secs(5)).await;
//! let session = browser.cookie("session").await.unwrap();
//! assert!(session.http_only && session.secure);
//! let csv = browser.fetch("/overlaps.csv").await;
//! ```

mod driver;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use driver::{Binaries, Driver, locate};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
pub(crate) use fantoccini::elements::Element;
pub(crate) use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
use serde_json::{Value, json};

/// How long `follow` and `submit_and_load` wait for the next page (a loaded CI machine can be
/// slow; a page that never comes fails the test with what was shown).
const NEXT_PAGE: Duration = Duration::from_secs(30);

/// The switches that make Chromium quiet, headless and runnable as root in a container.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    // CI runs as root, where Chromium refuses to start with its sandbox.
    "--no-sandbox",
    "--disable-gpu",
    // Containers give /dev/shm 64 MiB, too little for Chromium's shared memory.
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--ignore-certificate-errors",
    "--lang=en-US",
    "--window-size=1280,1024",
];

/// A headless Chromium session; closed, with its chromedriver, on drop.
pub(crate) struct Browser {
    client: Client,
    session: Option<String>,
    /// Chromium's own process, ended directly should closing the session fail.
    browser_pid: Option<u64>,
    /// Dropped after the session is closed, and before `_dir`, which holds its log.
    driver: Driver,
    /// The profile (`profile/`) and chromedriver's log (`chromedriver.log`).
    _dir: tempfile::TempDir,
}

/// What a page sent, as Chromium's network log records it.
#[derive(Debug, Clone)]
pub(crate) enum Sent {
    /// An HTTP request (a navigation, a fetch, a WebSocket's upgrade).
    Request { method: String, url: String, headers: String, body: Vec<u8> },
    /// A WebSocket message.
    WebSocket { bytes: Vec<u8> },
}

/// What a recording browser wrote to its sockets, from its network log: per socket, the bytes
/// in the clear (before TLS), and where the socket carried a WebSocket, its messages unmasked.
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// Per socket: every byte written, in order.
    pub sockets: Vec<Vec<u8>>,
    /// The payloads of every WebSocket message a page or worker sent (unmasked), and whether
    /// each was binary.
    pub messages: Vec<(bool, Vec<u8>)>,
}

impl Written {
    /// Reads Chromium's network log (one event per line after the constants).
    fn read(netlog: &str) -> Self {
        let mut lines = netlog.lines();
        let constants = lines.next().expect("a network log starts with its constants").trim_end_matches(',');
        let constants: Value = serde_json::from_str(&format!("{constants}}}")).expect("the log's constants");
        let kind = |name: &str| constants["constants"]["logEventTypes"][name].as_u64().expect("an event type");
        // A TLS socket logs its bytes twice: in the clear (SSL_…) and encrypted (SOCKET_…).
        let (clear, raw) = (kind("SSL_SOCKET_BYTES_SENT"), kind("SOCKET_BYTES_SENT"));
        let mut by_socket: BTreeMap<(u64, bool), Vec<u8>> = BTreeMap::new();
        for line in lines {
            let Ok(event) = serde_json::from_str::<Value>(line.trim_end_matches(',')) else { continue };
            let (Some(ty), Some(bytes)) = (event["type"].as_u64(), event["params"]["bytes"].as_str()) else { continue };
            if ty == clear || ty == raw {
                let decoded = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, bytes)
                    .expect("the log's bytes in base64");
                let socket = event["source"]["id"].as_u64().unwrap_or_default();
                by_socket.entry((socket, ty == clear)).or_default().extend(decoded);
            }
        }
        let tls: std::collections::BTreeSet<u64> =
            by_socket.keys().filter(|(_, in_clear)| *in_clear).map(|(socket, _)| *socket).collect();
        by_socket.retain(|(socket, in_clear), _| *in_clear || !tls.contains(socket));
        let mut written = Self::default();
        for bytes in by_socket.into_values() {
            if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&bytes[..end]).to_lowercase();
                if head.starts_with("get ") && head.contains("upgrade: websocket") {
                    written.messages.extend(unmasked(&bytes[end + 4..]));
                }
            }
            written.sockets.push(bytes);
        }
        written
    }
}

/// The messages of a client's WebSocket byte stream (RFC 6455 §5.2: every frame masked),
/// continuation frames joined to their message.
fn unmasked(mut stream: &[u8]) -> Vec<(bool, Vec<u8>)> {
    let mut messages: Vec<(bool, Vec<u8>)> = Vec::new();
    while stream.len() >= 6 {
        let opcode = stream[0] & 0x0f;
        let (len, at) = match stream[1] & 0x7f {
            126 => (u64::from(u16::from_be_bytes([stream[2], stream[3]])), 4),
            127 => (u64::from_be_bytes(stream[2..10].try_into().expect("8 bytes")), 10),
            n => (u64::from(n), 2usize),
        };
        assert!(stream[1] & 0x80 != 0, "a client's WebSocket frame is masked");
        let len = usize::try_from(len).expect("a frame's length");
        let Some(end) = (at + 4).checked_add(len).filter(|&end| end <= stream.len()) else { break };
        let mask = &stream[at..at + 4];
        let payload: Vec<u8> = stream[at + 4..end].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        match opcode {
            0 => messages.last_mut().expect("a continuation follows a message").1.extend(payload),
            1 | 2 => messages.push((opcode == 2, payload)),
            _ => {}
        }
        stream = &stream[end..];
    }
    messages
}

/// chromedriver's log command (`POST /session/{id}/se/log`): the entries of a log type since
/// the last call.
#[derive(Debug)]
struct GetLog(&'static str);

impl fantoccini::wd::WebDriverCompatibleCommand for GetLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(json!({ "type": self.0 }).to_string()))
    }
}

/// A cookie as the browser holds it, `HttpOnly` ones included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrowserCookie {
    pub name: String,
    pub value: String,
    pub path: Option<String>,
    pub domain: Option<String>,
    pub http_only: bool,
    pub secure: bool,
    /// `Strict`, `Lax` or `None`, as the browser reports it (absent when it reports none).
    pub same_site: Option<String>,
}

/// What a `fetch()` from the current page got back.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Fetched {
    pub status: u16,
    /// Header names in lower case (`Set-Cookie` is never visible to a page).
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Fetched {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// The element that has keyboard focus, described the way a keyboard user meets it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Focused {
    /// Lower-case tag name (`a`, `button`, `input`, …).
    pub tag: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub role: Option<String>,
    pub href: Option<String>,
    /// What it would most likely be announced as: `aria-label`, `aria-labelledby`, its `<label>`,
    /// else its text (a `<select>`'s chosen option), value, `alt` or `title` — an approximation of the accessible-name rules.
    pub label: String,
}

impl fmt::Display for Focused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tag)?;
        if let Some(id) = &self.id {
            write!(f, "#{id}")?;
        }
        write!(f, " {:?}", self.label)
    }
}

/// One rule axe-core found broken on a page, with the elements that break it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Violation {
    /// The rule (`color-contrast`, `label`, …).
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    /// What the rule asks, in a sentence.
    pub help: String,
    #[serde(rename = "helpUrl")]
    pub help_url: String,
    /// Each element's CSS selector path (a list: one per frame or shadow root on the way).
    pub targets: Vec<Value>,
}

impl Violation {
    /// Whether it is serious or critical: what `assert_accessible` fails on.
    pub(crate) fn is_serious(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let targets: Vec<String> = self.targets.iter().map(Value::to_string).collect();
        write!(
            f,
            "{} ({}): {} — {} [{}]",
            self.id,
            self.impact.as_deref().unwrap_or("no impact given"),
            self.help,
            targets.join(", "),
            self.help_url
        )
    }
}

/// Where the pinned axe-core is: `tests/axe/node_modules/axe-core/axe.min.js` in the repository.
fn axe_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/axe/node_modules/axe-core/axe.min.js")
}

/// axe-core's source, read once; `None` (after a note) where it is not installed and
/// `BLINDMAP_REQUIRE_BROWSER` is unset. Panics where it is set and axe is missing.
fn axe_source() -> Option<&'static str> {
    static SOURCE: OnceLock<Option<String>> = OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let path = axe_path();
            match std::fs::read_to_string(&path) {
                Ok(source) => Some(source),
                Err(e) => {
                    assert!(
                        std::env::var_os("BLINDMAP_REQUIRE_BROWSER").is_none(),
                        "BLINDMAP_REQUIRE_BROWSER is set but axe-core is not installed ({}: {e}): run \
                         `npm ci --prefix tests/axe` in the repository (scripts/test.sh does)",
                        path.display()
                    );
                    eprintln!("no axe-core at {} ({e}): skipping the accessibility check", path.display());
                    None
                }
            }
        })
        .as_deref()
}

impl Browser {
    /// A browser session, or `None` (after a note on stderr) where no Chromium is installed and
    /// `BLINDMAP_REQUIRE_BROWSER` is unset.
    pub(crate) async fn start() -> Option<Self> {
        Self::start_with(|name| std::env::var_os(name)).await
    }

    /// `start()`, reading the environment through `env` (so a test can pretend a machine has no
    /// browser without touching the process environment).
    pub(crate) async fn start_with(env: impl Fn(&str) -> Option<OsString>) -> Option<Self> {
        Self::start_as(env, false).await
    }

    async fn start_as(env: impl Fn(&str) -> Option<OsString>, recording: bool) -> Option<Self> {
        let binaries = match locate(&env) {
            Ok(binaries) => binaries,
            Err(missing) => {
                assert!(
                    env("BLINDMAP_REQUIRE_BROWSER").is_none(),
                    "BLINDMAP_REQUIRE_BROWSER is set but {missing}: install the Debian packages chromium and \
                     chromium-driver (scripts/test.sh does, as root)"
                );
                eprintln!("{missing}: skipping the browser test (set BLINDMAP_REQUIRE_BROWSER to make this fail)");
                return None;
            }
        };
        Some(Self::launch(&binaries, recording).await)
    }

    /// `start()`, with Chromium recording what the pages send (`sent`) and saving downloads in
    /// `downloads()`.
    pub(crate) async fn start_recording() -> Option<Self> {
        Self::start_as(|name| std::env::var_os(name), true).await
    }

    /// Chromium's network log (a recording browser only): every socket's bytes as sent, in the
    /// clear (before TLS), from every page and worker.
    pub(crate) fn netlog(&self) -> PathBuf {
        self._dir.path().join("netlog.json")
    }

    /// Closes a recording browser and reads what it wrote to its sockets (its network log is
    /// complete once Chromium has ended).
    pub(crate) async fn finish(mut self) -> Written {
        let netlog = self.netlog();
        if let Some(session) = self.session.take() {
            self.driver.delete_session(&session);
        }
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&netlog).unwrap_or_default();
            // Chromium closes the events' list on its way out.
            if text.trim_end().ends_with('}') || started.elapsed() > Duration::from_secs(10) {
                return Written::read(&text);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Where a recording browser saves what the pages download.
    pub(crate) fn downloads(&self) -> PathBuf {
        self._dir.path().join("downloads")
    }

    /// Everything the pages sent since the last call (a recording browser only): each
    /// request's method, URL and body, and each WebSocket message (binary ones decoded), from
    /// Chromium's network events.
    pub(crate) async fn sent(&self) -> Vec<Sent> {
        let log =
            self.client.issue_cmd(GetLog("performance")).await.unwrap_or_else(|e| panic!("read Chromium's log: {e}"));
        let mut sent = Vec::new();
        for entry in log.as_array().map(Vec::as_slice).unwrap_or_default() {
            let Some(message) = entry["message"].as_str().and_then(|m| serde_json::from_str::<Value>(m).ok()) else {
                continue;
            };
            let (method, params) = (&message["message"]["method"], &message["message"]["params"]);
            match method.as_str() {
                Some("Network.requestWillBeSent") => {
                    let request = &params["request"];
                    let mut body = request["postData"].as_str().unwrap_or_default().as_bytes().to_vec();
                    for entry in request["postDataEntries"].as_array().map(Vec::as_slice).unwrap_or_default() {
                        if let Some(bytes) = entry["bytes"].as_str() {
                            body.extend(
                                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, bytes)
                                    .unwrap_or_default(),
                            );
                        }
                    }
                    let headers = request["headers"].to_string();
                    sent.push(Sent::Request {
                        method: request["method"].as_str().unwrap_or_default().to_owned(),
                        url: request["url"].as_str().unwrap_or_default().to_owned(),
                        headers,
                        body,
                    });
                }
                Some("Network.webSocketFrameSent") => {
                    let response = &params["response"];
                    let payload = response["payloadData"].as_str().unwrap_or_default();
                    let bytes = if response["opcode"] == 2 {
                        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, payload)
                            .unwrap_or_else(|e| panic!("a binary WebSocket message Chromium logged undecodable: {e}"))
                    } else {
                        payload.as_bytes().to_vec()
                    };
                    sent.push(Sent::WebSocket { bytes });
                }
                _ => {}
            }
        }
        sent
    }

    async fn launch(binaries: &Binaries, recording: bool) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder for the browser");
        let driver = Driver::start(&binaries.chromedriver, dir.path().join("chromedriver.log")).await;

        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|&a| a.to_owned()).collect();
        args.push(format!("--user-data-dir={}", dir.path().join("profile").display()));
        let mut capabilities = json!({
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "timeouts": { "implicit": 0, "pageLoad": 30_000, "script": 30_000 },
            "goog:chromeOptions": { "binary": binaries.chromium, "args": args },
        });
        if recording {
            let netlog = dir.path().join("netlog.json");
            let args = capabilities["goog:chromeOptions"]["args"].as_array_mut().expect("the args");
            args.push(json!(format!("--log-net-log={}", netlog.display())));
            args.push(json!("--net-log-capture-mode=Everything"));
            capabilities["goog:loggingPrefs"] = json!({ "performance": "ALL" });
            capabilities["goog:chromeOptions"]["perfLoggingPrefs"] =
                json!({ "enableNetwork": true, "enablePage": false });
            capabilities["goog:chromeOptions"]["prefs"] = json!({
                "download.default_directory": dir.path().join("downloads"),
                "download.prompt_for_download": false,
            });
        }
        let Value::Object(capabilities) = capabilities else { unreachable!("an object literal") };
        let connected =
            ClientBuilder::new(HttpConnector::new()).capabilities(capabilities).connect(&driver.url()).await;
        let client = connected.unwrap_or_else(|e| {
            panic!(
                "no Chromium session from {} with {}: {e}\nchromedriver's log ends:\n{}",
                binaries.chromedriver.display(),
                binaries.chromium.display(),
                driver.log_tail()
            )
        });
        let session = client.session_id().await.ok().flatten();
        let browser_pid = client.capabilities().and_then(|c| c.get("goog:processID")).and_then(Value::as_u64);
        Self { client, session, browser_pid, driver, _dir: dir }
    }

    /// Opens `url` and waits for it to load.
    pub(crate) async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The address the browser shows.
    pub(crate) async fn url(&self) -> String {
        self.client.current_url().await.unwrap_or_else(|e| panic!("read the current URL: {e}")).to_string()
    }

    /// The current document as HTML (after scripts ran).
    pub(crate) async fn source(&self) -> String {
        self.client.source().await.unwrap_or_else(|e| panic!("read the page source: {e}"))
    }

    /// The first element `css` selects.
    pub(crate) async fn find(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("find {css:?} on {}: {e}", self.url().await),
        }
    }

    /// Every element `css` selects (none is no error).
    pub(crate) async fn find_all(&self, css: &str) -> Vec<Element> {
        match self.client.find_all(Locator::Css(css)).await {
            Ok(elements) => elements,
            Err(e) => panic!("find all {css:?} on {}: {e}", self.url().await),
        }
    }

    /// Whether `css` selects anything.
    pub(crate) async fn exists(&self, css: &str) -> bool {
        !self.find_all(css).await.is_empty()
    }

    /// The rendered text of the first element `css` selects (what a reader sees: hidden parts
    /// left out, whitespace as laid out).
    pub(crate) async fn text_of(&self, css: &str) -> String {
        let element = self.find(css).await;
        element.text().await.unwrap_or_else(|e| panic!("read the text of {css:?}: {e}"))
    }

    /// The rendered text of every element `css` selects, e.g. the cells of a table column.
    pub(crate) async fn texts_of(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.find_all(css).await {
            texts.push(element.text().await.unwrap_or_else(|e| panic!("read the text of {css:?}: {e}")));
        }
        texts
    }

    /// Clears the field `css` selects and types `value` into it, as a user would.
    pub(crate) async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap_or_else(|e| panic!("clear {css:?}: {e}"));
        field.send_keys(value).await.unwrap_or_else(|e| panic!("type into {css:?}: {e}"));
    }

    /// Picks the option whose value is `value` in the `<select>` `css` selects.
    pub(crate) async fn select(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.select_by_value(value).await.unwrap_or_else(|e| panic!("select {value:?} in {css:?}: {e}"));
    }

    /// Clicks the element `css` selects (scrolled into view; it must be visible and enabled).
    pub(crate) async fn click(&self, css: &str) {
        let element = self.find(css).await;
        element.click().await.unwrap_or_else(|e| panic!("click {css:?}: {e}"));
    }

    /// Deletes every cookie the browser holds for the current page's site (to sign out of
    /// another site, e.g. an OpenID provider).
    pub(crate) async fn delete_cookies(&self) {
        self.client.delete_all_cookies().await.unwrap_or_else(|e| panic!("delete cookies: {e}"));
    }

    /// Submits the form `css` selects as its submit button would: validation and `submit`
    /// handlers run (`requestSubmit`). Wait for the next page with `wait_for` or `wait_for_url`.
    pub(crate) async fn submit(&self, css: &str) {
        let form = self.find(css).await;
        let form = serde_json::to_value(&form).expect("an element reference");
        self.client
            .execute("arguments[0].requestSubmit();", vec![form])
            .await
            .unwrap_or_else(|e| panic!("submit {css:?}: {e}"));
    }

    /// Clicks the link or button `css` selects and waits until the page it leads to has loaded.
    /// Waiting for an element or an address is not enough when the next page has the same ones
    /// (a form that posts back to its own page): the old document may still be there when the
    /// next command runs, and be replaced under it.
    pub(crate) async fn follow(&self, css: &str) {
        let old = self.find("html").await;
        self.click(css).await;
        self.wait_for_next_document(&old, &format!("clicking {css:?}")).await;
    }

    /// Submits the form `css` selects (as `submit` does) and waits until the page it leads to
    /// has loaded (see `follow`).
    pub(crate) async fn submit_and_load(&self, css: &str) {
        let old = self.find("html").await;
        self.submit(css).await;
        self.wait_for_next_document(&old, &format!("submitting {css:?}")).await;
    }

    /// Waits until `old`, the root of the document shown before `what`, is gone and the
    /// document that replaced it has loaded.
    async fn wait_for_next_document(&self, old: &Element, what: &str) {
        let deadline = Instant::now() + NEXT_PAGE;
        loop {
            // Chromium says "stale element" or, mid-swap, that the node is not in the document.
            if old.tag_name().await.is_err() {
                break;
            }
            assert!(Instant::now() < deadline, "after {what}, {} is still shown after {NEXT_PAGE:?}", self.url().await);
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        loop {
            // A script may fail while the next document is being swapped in: try again.
            let state = self.client.execute("return document.readyState;", vec![]).await;
            if matches!(state, Ok(Value::String(ref s)) if s == "complete") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "after {what}, {} did not finish loading in {NEXT_PAGE:?}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits up to `timeout` for `css` to select something, and returns the first match.
    pub(crate) async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        match self.client.wait().at_most(timeout).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("{css:?} did not appear within {timeout:?} on {}: {e}", self.url().await),
        }
    }

    /// Waits up to `timeout` until the address contains `part`, and returns it.
    pub(crate) async fn wait_for_url(&self, part: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let url = self.url().await;
            if url.contains(part) {
                return url;
            }
            assert!(Instant::now() < deadline, "the address is still {url}, not one with {part:?}, after {timeout:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `script` in the page (`arguments[i]` are `args`) and returns what it returns.
    pub(crate) async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap_or_else(|e| panic!("run script {script:?}: {e}"))
    }

    /// The cookies the browser holds for the current page, `HttpOnly` ones included.
    pub(crate) async fn cookies(&self) -> Vec<BrowserCookie> {
        let cookies = self.client.get_all_cookies().await.unwrap_or_else(|e| panic!("read cookies: {e}"));
        cookies
            .iter()
            .map(|c| BrowserCookie {
                name: c.name().to_owned(),
                value: c.value().to_owned(),
                path: c.path().map(str::to_owned),
                domain: c.domain().map(str::to_owned),
                http_only: c.http_only().unwrap_or(false),
                secure: c.secure().unwrap_or(false),
                same_site: c.same_site().map(|s| s.to_string()),
            })
            .collect()
    }

    /// The cookie called `name`, if the browser holds one for the current page.
    pub(crate) async fn cookie(&self, name: &str) -> Option<BrowserCookie> {
        self.cookies().await.into_iter().find(|c| c.name == name)
    }

    /// `GET url` (absolute, or relative to the current page) with `fetch()` from the page, so
    /// with the browser's cookies — how a test reads what a link downloads (Chromium saves
    /// `text/csv` and attachments to disk instead of showing them).
    pub(crate) async fn fetch(&self, url: &str) -> Fetched {
        const FETCH: &str = "const [url, done] = arguments;
            fetch(url, { credentials: 'same-origin' })
              .then(async r => done({ status: r.status, url: r.url,
                                      headers: Object.fromEntries(r.headers), body: await r.text() }))
              .catch(e => done({ error: String(e) }));";
        let answer = self
            .client
            .execute_async(FETCH, vec![json!(url)])
            .await
            .unwrap_or_else(|e| panic!("fetch {url} from the page: {e}"));
        if let Some(error) = answer.get("error") {
            panic!("fetch {url} from {}: {error}", self.url().await);
        }
        serde_json::from_value(answer).expect("the fetch script's answer")
    }

    /// The body of `GET url` fetched from the page (see `fetch`); panics unless it is a 2xx.
    pub(crate) async fn fetch_text(&self, url: &str) -> String {
        let fetched = self.fetch(url).await;
        assert!((200..300).contains(&fetched.status), "GET {url}: {} {}", fetched.status, fetched.body);
        fetched.body
    }

    /// The `href` target of the link `css` selects, fetched with the browser's cookies.
    pub(crate) async fn fetch_link(&self, css: &str) -> Fetched {
        let link = self.find(css).await;
        let href = link
            .prop("href")
            .await
            .unwrap_or_else(|e| panic!("read the href of {css:?}: {e}"))
            .unwrap_or_else(|| panic!("{css:?} has no href"));
        self.fetch(&href).await
    }

    /// Presses and releases `key` wherever focus is, as a keyboard would.
    pub(crate) async fn press(&self, key: Key) {
        self.chord(&[key]).await;
    }

    /// Holds `keys` down in order and releases them in reverse (`[Key::Shift, Key::Tab]`).
    pub(crate) async fn chord(&self, keys: &[Key]) {
        let mut actions = KeyActions::new("keyboard".to_owned());
        for &key in keys {
            actions = actions.then(KeyAction::Down { value: key.into() });
        }
        for &key in keys.iter().rev() {
            actions = actions.then(KeyAction::Up { value: key.into() });
        }
        self.client.perform_actions(actions).await.unwrap_or_else(|e| panic!("press {keys:?}: {e}"));
    }

    /// Moves focus forward, as the Tab key does, and says where it landed.
    pub(crate) async fn tab(&self) -> Option<Focused> {
        self.press(Key::Tab).await;
        self.focused().await
    }

    /// Moves focus back, as Shift+Tab does, and says where it landed.
    pub(crate) async fn shift_tab(&self) -> Option<Focused> {
        self.chord(&[Key::Shift, Key::Tab]).await;
        self.focused().await
    }

    /// The element with keyboard focus (`document.activeElement`), `None` when nothing is focused.
    pub(crate) async fn focused(&self) -> Option<Focused> {
        const FOCUSED: &str = "const e = document.activeElement;
            if (!e || e === document.body || e === document.documentElement) return null;
            const text = s => (s || '').replace(/\\s+/g, ' ').trim();
            const byIds = ids => ids.split(/\\s+/).map(id => document.getElementById(id))
                                    .filter(Boolean).map(n => n.innerText).join(' ');
            const label = text(e.getAttribute('aria-label'))
              || text(e.getAttribute('aria-labelledby') && byIds(e.getAttribute('aria-labelledby')))
              || text(e.labels && e.labels.length ? e.labels[0].innerText : '')
              || text(e.tagName === 'SELECT' ? e.selectedOptions[0]?.text : e.innerText)
              || text(e.value) || text(e.getAttribute('alt'))
              || text(e.getAttribute('title'));
            return { tag: e.tagName.toLowerCase(), id: e.id || null, name: e.getAttribute('name'),
                     role: e.getAttribute('role'), href: e.getAttribute('href'), label };";
        let answer = self.execute(FOCUSED, vec![]).await;
        serde_json::from_value(answer).expect("the focus script's answer")
    }

    /// Presses Tab up to `max` times from where focus is now (the top, right after `goto`) and
    /// lists where focus went, stopping early when it leaves the page's last focusable element
    /// (focus is then outside the page: Shift+Tab comes back to that last element).
    pub(crate) async fn tab_order(&self, max: usize) -> Vec<Focused> {
        let mut order: Vec<Focused> = Vec::new();
        for _ in 0..max {
            match self.tab().await {
                Some(focused) if order.first() != Some(&focused) => order.push(focused),
                _ => break,
            }
        }
        order
    }

    /// Resizes the window so that the page's viewport (`innerWidth` × `innerHeight`) is `width` ×
    /// `height` CSS pixels, as a phone's or a laptop's would be.
    pub(crate) async fn set_viewport(&self, width: u32, height: u32) {
        // The window's outer size includes whatever frame it has: measure, then correct.
        let mut size = (width, height);
        for _ in 0..3 {
            self.client
                .set_window_size(size.0, size.1)
                .await
                .unwrap_or_else(|e| panic!("resize the window to {size:?}: {e}"));
            let inner = self.execute("return [window.innerWidth, window.innerHeight]", vec![]).await;
            let inner: (u32, u32) = serde_json::from_value(inner).expect("the viewport's size");
            if inner == (width, height) {
                return;
            }
            size = (size.0 + width - inner.0.min(width), size.1 + height - inner.1.min(height));
        }
        panic!("the viewport did not become {width}×{height}");
    }

    /// How wide the document is and how wide the viewport: the page scrolls sideways when the
    /// first is larger (WCAG 1.4.10 wants it not to, down to 320 CSS pixels).
    pub(crate) async fn widths(&self) -> (u64, u64) {
        let answer = self.execute("return [document.documentElement.scrollWidth, window.innerWidth]", vec![]).await;
        serde_json::from_value(answer).expect("two widths")
    }

    /// Panics, naming `what` and the widest elements, if the current page scrolls sideways.
    pub(crate) async fn assert_no_horizontal_scroll(&self, what: &str) {
        let (document, viewport) = self.widths().await;
        if document > viewport {
            let widest = self
                .execute(
                    "return [...document.querySelectorAll('body *')]
                       .filter(e => e.getBoundingClientRect().right > window.innerWidth)
                       .slice(0, 8).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                                      + (e.className ? '.' + e.className : '')
                                      + ' right=' + Math.round(e.getBoundingClientRect().right))",
                    vec![],
                )
                .await;
            panic!(
                "{what} ({}) is {document} px wide in a {viewport} px viewport: it scrolls sideways; \
                 sticking out: {widest}",
                self.url().await
            );
        }
    }

    /// Runs axe-core on the current page and returns every violation it finds (any impact), or
    /// `None` where axe-core is not installed and not required (see `axe_source`).
    pub(crate) async fn axe(&self) -> Option<Vec<Violation>> {
        const RUN: &str = "const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ['violations'] })
              .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                                       helpUrl: v.helpUrl, targets: v.nodes.map(n => n.target) }))))
              .catch(e => done({ error: String(e) }));";
        let source = axe_source()?;
        // Injected anew on every page (each load drops it); a script run by WebDriver, not by the page.
        let injected = self.execute(&format!("{source}\n;return typeof axe;"), vec![]).await;
        assert_eq!(injected, "object", "axe-core did not load in {}", self.url().await);
        let answer = self.client.execute_async(RUN, vec![]).await.unwrap_or_else(|e| panic!("run axe-core: {e}"));
        if let Some(error) = answer.get("error") {
            panic!("axe-core failed on {}: {error}", self.url().await);
        }
        Some(serde_json::from_value(answer).expect("axe-core's violations"))
    }

    /// The serious and critical violations axe-core finds on the current page, as one message
    /// each; empty where there are none (or axe-core is not installed and not required).
    pub(crate) async fn serious_violations(&self) -> Vec<String> {
        let found = self.axe().await.unwrap_or_default();
        found.iter().filter(|v| v.is_serious()).map(ToString::to_string).collect()
    }

    /// Panics listing every serious or critical accessibility violation axe-core finds on the
    /// current page (`what` names it in the message).
    pub(crate) async fn assert_accessible(&self, what: &str) {
        let serious = self.serious_violations().await;
        assert!(
            serious.is_empty(),
            "{what} ({}) has {} serious or critical accessibility violation(s):\n  {}",
            self.url().await,
            serious.len(),
            serious.join("\n  ")
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Killing chromedriver (the `driver` field, dropped next) leaves Chromium running: close
        // the session first, which ends Chromium — blocking, as nothing async can run here.
        let closed = self.session.as_ref().is_some_and(|session| self.driver.delete_session(session));
        if !closed && let Some(pid) = self.browser_pid {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
        if std::thread::panicking() {
            eprintln!("chromedriver's log ends:\n{}", self.driver.log_tail());
        }
    }
}
