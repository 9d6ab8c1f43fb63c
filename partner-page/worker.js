// The partner page's worker: the import and the protocol session run here, in WebAssembly
// (crates/blindmap-wasm), so that the page stays responsive. Only protocol frames leave it, over
// one WebSocket to the vendor's node (spec §20.2).
//
// Assembly (partner-page/assemble.mjs) puts wasm-bindgen's glue (`--target no-modules`) before
// this file: it defines `wasm_bindgen`.
//
// Messages from the page:
//   {type: "init", wasm: {url, integrity} | {bytes}}
//   {type: "import", file, preset, mapping}         file: a File; mapping: TOML text or null
//   {type: "match", node, invitation, shares}       node: the node's origin; shares: what the
//                                                   partner reveals after the match (spec §20.6;
//                                                   crates/blindmap-wasm/src/shares.rs), or null
//   {type: "cancel"}
// Messages to the page:
//   {type: "ready", version}                        | {type: "fatal", message}
//   {type: "import-progress", bytesRead, totalBytes, rows}
//   {type: "imported", preview, accounts}           | {type: "import-error", message}
//   {type: "match-progress", phase, done, total, bytesSent, bytesReceived}
//        phase: "connecting" | "waiting" | "matching" | "finishing"
//   {type: "results", run, results, csv, confirmed, fieldsError, bytesSent, bytesReceived}
//        fieldsError: why the vendor's returned fields were left out, or null
//        results.shared_with_them: what was revealed, and how many accounts the vendor returned
//        its fields for (spec §20.7), which the overlaps carry as partner_fields
//   {type: "match-error", kind, message, status, retry}
//        kind: "server" (the node refused) | "protocol" | "connection" | "state"
"use strict";
/* global wasm_bindgen */

/** Rows read per step of an import, between progress reports. */
const ROWS_PER_STEP = 2000;
/** The largest export read (crates/blindmap-wasm's MAX_FILE_BYTES): refused before it is copied. */
const MAX_FILE_BYTES = 256 << 20;
/** Frames wait while this much is queued on the socket. */
const MAX_BUFFERED = 16 << 20;

let imported = null;
let importRun = 0;
let match = null;

function post(message) {
  self.postMessage(message);
}

function messageOf(e) {
  return e instanceof Error ? e.message : String(e);
}

/** A trap in the WebAssembly (a panic): nothing in it can be trusted any more. */
function fatal(e) {
  post({ type: "fatal", message: messageOf(e) });
  if (match && match.ws) match.ws.close(1011);
  match = null;
  imported = null;
}

function isTrap(e) {
  return e instanceof WebAssembly.RuntimeError;
}

/** Lets other events (a cancel, the socket's messages) run between steps. */
function nextTask() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

async function init(wasm) {
  try {
    if (wasm.bytes) {
      await wasm_bindgen({ module_or_path: wasm.bytes });
    } else {
      // The served page names the WebAssembly by its hash: the browser refuses other bytes.
      await wasm_bindgen({ module_or_path: fetch(wasm.url, { integrity: wasm.integrity, credentials: "omit" }) });
    }
    post({ type: "ready", version: wasm_bindgen.version() });
  } catch (e) {
    post({ type: "fatal", message: "the page's WebAssembly could not start: " + messageOf(e) });
  }
}

async function runImport({ file, preset, mapping }) {
  const run = ++importRun;
  if (imported) {
    imported.free();
    imported = null;
  }
  let job = null;
  try {
    if (file.size > MAX_FILE_BYTES) {
      throw new Error(`${file.name} is ${file.size} bytes; the page reads exports of up to ${MAX_FILE_BYTES} bytes`);
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    job = new wasm_bindgen.Import(file.name, bytes, preset || "auto", mapping == null ? undefined : mapping);
    post({ type: "import-progress", bytesRead: 0, totalBytes: job.totalBytes, rows: 0 });
    while (!job.step(ROWS_PER_STEP)) {
      post({ type: "import-progress", bytesRead: job.bytesRead, totalBytes: job.totalBytes, rows: job.rows });
      await nextTask();
      if (run !== importRun) {
        job.free();
        return;
      }
    }
    imported = job;
    post({ type: "imported", preview: JSON.parse(job.previewJson()), accounts: job.accounts });
  } catch (e) {
    if (isTrap(e)) return fatal(e);
    if (job) job.free();
    if (run === importRun) post({ type: "import-error", message: messageOf(e) });
  }
}

function sessionUrl(node) {
  const url = new URL("/browser/v1/session", node);
  url.protocol = url.protocol === "http:" ? "ws:" : "wss:";
  return url.href;
}

function progress(m, phase) {
  if (phase) m.phase = phase;
  const s = m.session;
  post({
    type: "match-progress",
    phase: m.phase,
    done: s ? s.recordsDone : 0,
    total: s ? s.recordsTotal : 0,
    bytesSent: s ? s.bytesSent : 0,
    bytesReceived: s ? s.bytesReceived : 0,
  });
}

/** Ends a match with an error; the socket is closed, the import kept for another try. */
function fail(m, kind, message, extra) {
  if (m.over) return;
  m.over = true;
  post(Object.assign({ type: "match-error", kind, message, status: null, retry: true }, extra || {}));
  if (m.ws.readyState <= WebSocket.OPEN) m.ws.close(1000);
  if (m.session) m.session.free();
  if (match === m) match = null;
}

function complete(m, confirmed) {
  if (m.over) return;
  m.over = true;
  const s = m.session;
  post({
    type: "results",
    run: m.run,
    results: JSON.parse(s.resultJson()),
    csv: s.resultCsv(),
    confirmed,
    fieldsError: m.fieldsError || null,
    bytesSent: s.bytesSent,
    bytesReceived: s.bytesReceived,
  });
  s.free();
  if (m.ws.readyState <= WebSocket.OPEN) m.ws.close(1000);
  if (match === m) match = null;
}

/** Sends every frame the session has, one protocol frame per binary message. */
async function pump(m) {
  if (m.pumping) {
    m.again = true;
    return;
  }
  m.pumping = true;
  try {
    do {
      m.again = false;
      let frame;
      while (!m.over && (frame = m.session.pollTransmit()) !== undefined) {
        m.ws.send(frame);
        progress(m);
        await nextTask();
        while (!m.over && m.ws.bufferedAmount > MAX_BUFFERED) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    } while (m.again && !m.over);
    if (m.over) return;
    const s = m.session;
    // spec §20.2: "done" once our side is over — finished, or aborted with the abort sent;
    // after a finished session, what the partner chose to reveal first (spec §20.6).
    if ((s.isFinished || s.isFailed) && !m.doneSent) {
      if (s.isFinished && m.shares) {
        const reveal = s.reveal(JSON.stringify(m.shares));
        if (reveal !== undefined) {
          m.ws.send(reveal);
          m.revealed = true;
        }
      }
      m.ws.send(JSON.stringify({ type: "done" }));
      m.doneSent = true;
      if (s.isFailed) return fail(m, "protocol", m.failure || "the match failed");
      progress(m, "finishing");
    }
    if (m.doneSent && m.doneReceived && s.isFinished) complete(m, true);
  } catch (e) {
    if (isTrap(e)) return fatal(e);
    fail(m, "state", messageOf(e));
  } finally {
    m.pumping = false;
  }
}

function onText(m, text) {
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    return fail(m, "protocol", "the vendor's node sent something this page does not understand");
  }
  if (message.type === "ready" && !m.session) {
    m.run = typeof message.run === "string" ? message.run : null;
    m.session = new wasm_bindgen.PartnerSession(imported);
    progress(m, "matching");
    pump(m);
  } else if (message.type === "error") {
    const status = Number.isInteger(message.status) ? message.status : null;
    const words = [message.title, message.detail].filter((t) => typeof t === "string" && t).join(": ");
    // Refused links stay refused; a run already running (409) or a busy node may pass.
    const retry = status === 409 || status === 429 || status === null || status >= 500;
    fail(m, "server", words || "the vendor's node refused the match", { status, retry });
  } else if (message.type === "fields" && m.session && m.revealed && !m.doneReceived) {
    // spec §20.7: the vendor's fields for what this page revealed. Fields that do not fit are
    // left out, and said so: the match itself stands (the vendor's node has stored it).
    try {
      m.session.receiveFields(text);
    } catch (e) {
      if (isTrap(e)) return fatal(e);
      m.fieldsError = messageOf(e);
    }
  } else if (message.type === "done" && m.session) {
    m.doneReceived = true;
    pump(m);
  } else {
    fail(m, "protocol", "the vendor's node sent an unexpected message (" + String(message.type) + ")");
  }
}

function onFrame(m, data) {
  if (!m.session) return fail(m, "protocol", "the vendor's node sent a frame before the session was ready");
  try {
    m.session.receive(new Uint8Array(data));
  } catch (e) {
    if (isTrap(e)) return fatal(e);
    // The abort that tells the vendor why is waiting: pump sends it, then "done".
    m.failure = messageOf(e);
  }
  progress(m);
  pump(m);
}

function runMatch({ node, invitation, shares }) {
  if (!imported) return post({ type: "match-error", kind: "state", message: "read your export first", retry: false });
  if (match) fail(match, "state", "a new match started");
  let ws;
  try {
    ws = new WebSocket(sessionUrl(node));
  } catch (e) {
    return post({ type: "match-error", kind: "connection", message: messageOf(e), status: null, retry: true });
  }
  const m = {
    ws,
    session: null,
    run: null,
    shares: shares || null,
    revealed: false,
    phase: "connecting",
    over: false,
    doneSent: false,
    doneReceived: false,
  };
  match = m;
  ws.binaryType = "arraybuffer";
  progress(m, "connecting");
  ws.onopen = () => {
    ws.send(JSON.stringify({ invitation }));
    progress(m, "waiting");
  };
  ws.onmessage = (event) => {
    if (m.over) return;
    try {
      if (typeof event.data === "string") onText(m, event.data);
      else onFrame(m, event.data);
    } catch (e) {
      if (isTrap(e)) return fatal(e);
      fail(m, "state", messageOf(e));
    }
  };
  ws.onclose = (event) => {
    if (m.over) return;
    // Our side finished and said so: the results stand even if the node's "done" was lost.
    if (m.session && m.doneSent && m.session.isFinished) return complete(m, false);
    const why = m.session
      ? "the connection to the vendor's node was lost during the match"
      : "the vendor's node could not be reached";
    fail(m, "connection", why + (event.code && event.code !== 1006 ? " (closed with code " + event.code + ")" : ""));
  };
}

self.onmessage = (event) => {
  const message = event.data || {};
  switch (message.type) {
    case "init":
      return init(message.wasm);
    case "import":
      return runImport(message);
    case "match":
      return runMatch(message);
    case "cancel":
      if (match) fail(match, "state", "you stopped it", { retry: true });
      return;
    default:
      return;
  }
};

self.onunhandledrejection = (event) => fatal(event.reason);
