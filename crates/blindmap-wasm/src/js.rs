//! The JavaScript interface (wasm-bindgen): thin wrappers over [`crate::Import`] and
//! [`crate::PartnerSession`]. Errors become JavaScript `Error`s with the message the page shows;
//! results and previews go as JSON text.
//!
//! Counts are `f64` in JavaScript: exact far past any file the page reads.

use wasm_bindgen::prelude::*;

use crate::import::ReadAs;

fn js(e: crate::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// An export being read: `new Import(name, bytes, preset, mapping)`, then `step(rows)` until it
/// returns true.
#[wasm_bindgen]
pub struct Import(crate::Import);

#[wasm_bindgen]
impl Import {
    /// Starts reading `bytes`, the file `name`, with `preset` (`auto`, `salesforce`, `hubspot`,
    /// `generic`) or a mapping file's TOML text. Throws the importer's message.
    #[wasm_bindgen(constructor)]
    pub fn new(name: &str, bytes: Vec<u8>, preset: &str, mapping: Option<String>) -> Result<Self, JsError> {
        let read_as = ReadAs { preset: preset.to_owned(), mapping };
        crate::Import::new(name, bytes, &read_as).map(Self).map_err(js)
    }

    /// Reads up to `rows` more rows; true once the file is read whole. Throws the importer's
    /// message (with the line and column) on the first problem.
    pub fn step(&mut self, rows: u32) -> Result<bool, JsError> {
        self.0.step(rows).map_err(js)
    }

    /// Bytes read so far.
    #[wasm_bindgen(getter, js_name = bytesRead)]
    pub fn bytes_read(&self) -> f64 {
        self.0.progress().0 as f64
    }

    /// The file's size in bytes.
    #[wasm_bindgen(getter, js_name = totalBytes)]
    pub fn total_bytes(&self) -> f64 {
        self.0.progress().1 as f64
    }

    /// Rows read so far.
    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> f64 {
        self.0.rows() as f64
    }

    /// Accounts that take part in a match (0 until the file is read whole).
    #[wasm_bindgen(getter)]
    pub fn accounts(&self) -> f64 {
        self.0.imported().map_or(0, |i| i.dataset.records().len()) as f64
    }

    /// What the importer made of the file, as JSON (see `Preview`).
    #[wasm_bindgen(js_name = previewJson)]
    pub fn preview_json(&self) -> String {
        serde_json::to_string(&self.0.preview()).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// The partner's session with the vendor's node: move every `pollTransmit()` frame to the
/// vendor and every frame from the vendor into `receive()`, until `isFinished`.
#[wasm_bindgen]
pub struct PartnerSession(crate::PartnerSession);

#[wasm_bindgen]
impl PartnerSession {
    /// A new session (fresh randomness) over a finished import; its hello is ready at once.
    #[wasm_bindgen(constructor)]
    pub fn new(import: &Import) -> Result<Self, JsError> {
        let imported = import.0.imported().ok_or(crate::Error::State("the import has not finished")).map_err(js)?;
        crate::PartnerSession::new(imported).map(Self).map_err(js)
    }

    /// The next frame for the vendor, or `undefined`.
    #[wasm_bindgen(js_name = pollTransmit)]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.0.poll_transmit()
    }

    /// One frame from the vendor. Throws the protocol's message; the abort frame that tells the
    /// vendor is then waiting in `pollTransmit()`.
    pub fn receive(&mut self, frame: &[u8]) -> Result<(), JsError> {
        self.0.receive(frame).map_err(js)
    }

    /// Whether the session finished: the results are ready.
    #[wasm_bindgen(getter, js_name = isFinished)]
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    /// Whether the session failed.
    #[wasm_bindgen(getter, js_name = isFailed)]
    pub fn is_failed(&self) -> bool {
        self.0.is_failed()
    }

    /// Records evaluated so far.
    #[wasm_bindgen(getter, js_name = recordsDone)]
    pub fn records_done(&self) -> f64 {
        self.0.progress().0 as f64
    }

    /// Records to evaluate in all (grows once the vendor's hello and plan arrive).
    #[wasm_bindgen(getter, js_name = recordsTotal)]
    pub fn records_total(&self) -> f64 {
        self.0.progress().1 as f64
    }

    /// Bytes sent to the vendor.
    #[wasm_bindgen(getter, js_name = bytesSent)]
    pub fn bytes_sent(&self) -> f64 {
        self.0.traffic().0 as f64
    }

    /// Bytes received from the vendor.
    #[wasm_bindgen(getter, js_name = bytesReceived)]
    pub fn bytes_received(&self) -> f64 {
        self.0.traffic().1 as f64
    }

    /// Once the session finished, what `shares` (JSON, see `Shares`) reveals to the vendor
    /// (spec §20.6): the text message to send before `done`, or `undefined` when it reveals
    /// nothing. Throws on a choice that does not read, or before the session finished.
    pub fn reveal(&mut self, shares: &str) -> Result<Option<String>, JsError> {
        let policy = crate::Shares::policy(shares).map_err(js)?;
        self.0.reveal(&policy).map_err(js)
    }

    /// The vendor's `fields` message (spec §20.7), as text: its fields for what was revealed,
    /// added to the results. Throws on a message that does not fit.
    #[wasm_bindgen(js_name = receiveFields)]
    pub fn receive_fields(&mut self, text: &str) -> Result<(), JsError> {
        self.0.receive_fields(text).map_err(js)
    }

    /// The results as JSON (see `Results`). Throws before the session finished.
    #[wasm_bindgen(js_name = resultJson)]
    pub fn result_json(&mut self) -> Result<String, JsError> {
        self.0.results().map(crate::Results::to_json).map_err(js)
    }

    /// The overlapping accounts as CSV. Throws before the session finished.
    #[wasm_bindgen(js_name = resultCsv)]
    pub fn result_csv(&mut self) -> Result<String, JsError> {
        self.0.results().and_then(crate::Results::to_csv).map_err(js)
    }
}

/// This build's version (the workspace's).
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
