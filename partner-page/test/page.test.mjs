// The built partner page (scripts/partner-page.sh → target/partner-page), in Node 20:
//
//   node --test partner-page/test/
//
// - the files are what the manifest says, the served page names each asset with its integrity,
//   the single file's CSP allows exactly its inline script and style, and its SHA-256 is the one
//   in blindmap-partner.html.sha256;
// - the worker bundle (wasm-bindgen's glue and worker.js), started as a worker is, imports
//   samples/partner-hubspot.csv and answers the page's messages as worker.js documents them;
// - a session produces its hello first, and, against the vendor's side running natively
//   (crates/blindmap-wasm/src/bin/vendor.rs over standard input and output), runs whole through
//   the worker's WebSocket handling to the results the native tests expect.
//
// PARTNER_PAGE_OUT names another build folder; BLINDMAP_VENDOR the vendor program (default
// target/debug/blindmap-wasm-vendor; the session tests are skipped without it unless CI=true);
// BLINDMAP_PAGE_BENCH_ROWS the size of the timed import and session (default 2000).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, webcrypto } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const out = process.env.PARTNER_PAGE_OUT || join(root, "target/partner-page");
const vendorProgram = process.env.BLINDMAP_VENDOR || resolve(root, process.env.CARGO_TARGET_DIR || "target", "debug/blindmap-wasm-vendor");
const benchRows = Number(process.env.BLINDMAP_PAGE_BENCH_ROWS || 2000);
const haveVendor = existsSync(vendorProgram);
const needVendor = process.env.CI === "true";

const read = (file) => readFileSync(join(out, file));
const manifest = JSON.parse(read("manifest.json"));
const fileOf = (prefix) => manifest.files.find((f) => f.file.startsWith(prefix)).file;
const sha = (alg, bytes) => createHash(alg).update(bytes).digest();
const sample = (name) => readFileSync(join(root, "samples", name));

test("the files are what the manifest says, and the single file's SHA-256 is published", () => {
  for (const f of manifest.files) {
    const bytes = read(f.file);
    assert.equal(bytes.length, f.bytes, f.file);
    assert.equal(`sha384-${sha("sha384", bytes).toString("base64")}`, f.integrity, f.file);
    assert.equal(sha("sha256", bytes).toString("hex"), f.sha256, f.file);
  }
  const single = read("blindmap-partner.html");
  const published = read("blindmap-partner.html.sha256").toString();
  assert.equal(published, `${sha("sha256", single).toString("hex")}  blindmap-partner.html\n`);
  assert.equal(manifest.single_file.sha256, published.split(" ")[0]);
});

test("the served page loads every asset by its hash with integrity, and nothing inline", () => {
  const index = read("index.html").toString();
  for (const prefix of ["app-", "style-", "worker-", "blindmap-"]) {
    const f = manifest.files.find((x) => x.file.startsWith(prefix));
    assert.ok(index.includes(`/join/assets/${f.file}`), f.file);
    assert.ok(index.includes(f.integrity), `${f.file}'s integrity`);
  }
  assert.match(index, /<script type="module" src="\/join\/assets\/app-[0-9a-f]{16}\.js" integrity="sha384-/);
  assert.doesNotMatch(index, /<script(?![^>]*\bsrc=)[^>]*>/, "no inline script");
  assert.doesNotMatch(index, /<style|\sstyle=/, "no inline style");
  assert.ok(index.includes(manifest.single_file.sha256), "the single file's SHA-256 is shown");
});

test("the single file allows exactly its inline script and style", () => {
  const html = read("blindmap-partner.html").toString();
  const csp = html.match(/<meta http-equiv="Content-Security-Policy" content="([^"]+)">/)[1];
  const script = html.match(/<script type="module">([\s\S]*?)<\/script>/)[1];
  const style = html.match(/<style>([\s\S]*?)<\/style>/)[1];
  const hash = (s) => `'sha256-${sha("sha256", Buffer.from(s)).toString("base64")}'`;
  assert.ok(csp.includes(`script-src ${hash(script)} 'wasm-unsafe-eval'`), csp);
  assert.ok(csp.includes(`style-src ${hash(style)}`), csp);
  assert.ok(csp.includes("worker-src blob:") && csp.includes("connect-src https: wss:"), csp);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(script, read(fileOf("app-")).toString());
  const blocks = [...html.matchAll(/<script type="application\/octet-stream" id="([^"]+)">([^<]*)<\/script>/g)];
  assert.deepEqual(blocks.map((b) => b[1]), ["blindmap-worker", "blindmap-wasm"]);
  assert.ok(Buffer.from(blocks[1][2], "base64").equals(read(fileOf("blindmap-"))));
  assert.ok(Buffer.from(blocks[0][2], "base64").equals(read(fileOf("worker-"))));
});

/**
 * The worker bundle in a context of its own, as a browser runs a classic worker: `self` takes
 * the page's messages and `posted` collects the worker's. `sockets` is the WebSocket it gets.
 */
function startWorker(WebSocket) {
  const posted = [];
  const waiters = [];
  const self = {
    postMessage(message) {
      posted.push(message);
      for (const w of waiters.splice(0)) w();
    },
  };
  const context = vm.createContext({
    self,
    WebAssembly,
    WebSocket,
    crypto: webcrypto,
    MessageChannel,
    TextEncoder,
    TextDecoder,
    URL,
    setTimeout,
    clearTimeout,
    console,
    FinalizationRegistry,
    Response,
    fetch,
  });
  vm.runInContext(read(fileOf("worker-")).toString(), context, { filename: "worker.js" });
  const send = (message) => self.onmessage({ data: message });
  /** The next message of `type` (an error message of the worker fails the wait). */
  async function next(type) {
    for (;;) {
      const i = posted.findIndex((m) => m.type === type || m.type === "fatal" || m.type.endsWith("-error"));
      if (i >= 0) {
        const [m] = posted.splice(i, 1);
        if (m.type !== type) assert.fail(`${type} expected, the worker said ${JSON.stringify(m)}`);
        return m;
      }
      await new Promise((resolve) => waiters.push(resolve));
    }
  }
  return { context, send, next, posted };
}

const file = (name, bytes) => ({ name, size: bytes.length, arrayBuffer: async () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) });

async function readyWorker(WebSocket) {
  const worker = startWorker(WebSocket);
  const wasm = read(fileOf("blindmap-"));
  worker.send({ type: "init", wasm: { bytes: wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.length) } });
  const ready = await worker.next("ready");
  return { worker, ready };
}

test("the worker imports the HubSpot sample and previews it", async () => {
  const { worker, ready } = await readyWorker(undefined);
  assert.match(ready.version, /^\d+\.\d+\.\d+$/);
  worker.send({ type: "import", file: file("partner-hubspot.csv", sample("partner-hubspot.csv")), preset: "auto", mapping: null });
  const progress = await worker.next("import-progress");
  assert.ok(progress.totalBytes > 0);
  const { preview, accounts } = await worker.next("imported");
  assert.equal(preview.read_as, "hubspot");
  assert.equal(preview.summary.rows, 29);
  assert.equal(accounts, preview.summary.accounts);
  assert.equal(preview.accounts[0].id, "9001120031");
  const gmail = preview.not_keys.find((n) => n.value === "gmail.com");
  assert.deepEqual([gmail.line, gmail.column, gmail.reason], [7, "Company Domain Name", "free_mail_domain"]);

  // An export that cannot be read says where.
  const bad = Buffer.from("id,segment,name,country,domain\n1,customers,Caf\xe9,FR,cafe.fr\n", "latin1");
  worker.send({ type: "import", file: file("bad.csv", bad), preset: "generic", mapping: null });
  for (;;) {
    const m = await new Promise((resolve) => setTimeout(() => resolve(worker.posted.find((x) => x.type === "import-error")), 10));
    if (m) {
      assert.match(m.message, /bad\.csv, line 2, column "name": not UTF-8/);
      break;
    }
  }
});

test("a session's first frame is its hello", async () => {
  const { worker } = await readyWorker(undefined);
  const wb = vm.runInContext("wasm_bindgen", worker.context);
  const job = new wb.Import("partner-hubspot.csv", sample("partner-hubspot.csv"), "auto", undefined);
  while (!job.step(1000));
  const session = new wb.PartnerSession(job);
  const hello = session.pollTransmit();
  assert.equal(Object.prototype.toString.call(hello), "[object Uint8Array]");
  assert.equal(hello[0], 1, "protocol version 1");
  assert.equal(hello[1], 0x01, "kind Hello");
  assert.equal(session.pollTransmit(), undefined, "then it waits for the vendor");
  assert.equal(session.isFinished, false);
  assert.throws(() => session.resultJson(), /not finished/);
  assert.throws(() => session.receive(new Uint8Array([9, 9, 9])), /match failed/);
  assert.equal(session.isFailed, true);
});

/** Cuts a byte stream into protocol frames by their headers (spec §8.1: the length at 22..26). */
function frames(onFrame) {
  let buffer = Buffer.alloc(0);
  return (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 26) {
      const len = 26 + buffer.readUInt32BE(22);
      if (buffer.length < len) return;
      onFrame(buffer.subarray(0, len));
      buffer = buffer.subarray(len);
    }
  };
}

/**
 * A WebSocket to a "node" that is the native vendor program: the invitation answered with
 * ready, binary messages piped to the program, its frames back as binary messages, done/done.
 */
function vendorSocket(csvPath) {
  return class FakeSocket {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;
    constructor(url) {
      assert.equal(url, "wss://vendor.example/browser/v1/session");
      this.readyState = 0;
      this.bufferedAmount = 0;
      this.sent = [];
      this.vendor = spawn(vendorProgram, [csvPath], { stdio: ["pipe", "pipe", "inherit"] });
      this.vendor.stdout.on("data", frames((f) => this.deliver(new Uint8Array(f).buffer)));
      this.vendor.on("exit", () => {
        this.vendorDone = true;
        this.maybeDone();
      });
      setTimeout(() => {
        this.readyState = 1;
        this.onopen();
      });
    }
    deliver(data) {
      setTimeout(() => this.readyState === 1 && this.onmessage({ data }));
    }
    maybeDone() {
      if (this.vendorDone && this.pageDone && !this.doneSent) {
        this.doneSent = true;
        this.deliver(JSON.stringify({ type: "done" }));
      }
    }
    send(data) {
      if (typeof data === "string") {
        const message = JSON.parse(data);
        this.sent.push(message);
        if (message.invitation) this.deliver(JSON.stringify({ type: "ready", run: "run_test" }));
        // The node's answer to a reveal (spec §20.7), where a test gives one.
        if (message.type === "reveal" && this.constructor.fields) this.deliver(JSON.stringify(this.constructor.fields));
        if (message.type === "done") {
          this.pageDone = true;
          this.maybeDone();
        }
        return;
      }
      this.vendor.stdin.write(Buffer.from(data));
    }
    close() {
      this.readyState = 3;
      this.vendor.stdin.end();
    }
  };
}

function generic(rows, offset) {
  const lines = ["id,segment,name,country,domain"];
  for (let i = 0; i < rows; i++) {
    const n = i + offset;
    lines.push(`${n},${n % 3 ? "customers" : "prospects"},Company ${n} Systems,US,company-${n}.com`);
  }
  return Buffer.from(`${lines.join("\n")}\n`);
}

/** The keys a hello declares (spec §8.4), summed over its segments. */
function helloKeys(frame) {
  const body = Buffer.from(frame).subarray(26);
  let at = 6;
  let keys = 0;
  for (let i = 0; i < body.readUInt16BE(4); i++) {
    at += 1 + body[at] + 4;
    keys += Number(body.readBigUInt64BE(at));
    at += 9;
  }
  return keys;
}

const sessionTest = haveVendor || needVendor ? test : test.skip;

sessionTest("a whole session through the worker against the vendor's side", async () => {
  const { worker } = await readyWorker(vendorSocket(join(root, "samples/vendor-salesforce.csv")));
  worker.send({ type: "import", file: file("partner-hubspot.csv", sample("partner-hubspot.csv")), preset: "auto", mapping: null });
  await worker.next("imported");
  let socket = null;
  worker.context.WebSocket = class extends worker.context.WebSocket {
    constructor(url) {
      super(url);
      socket = this;
    }
  };
  // Counts of every segment, the owners of the customers (spec §20.6).
  const shares = { default: "counts", segments: { customers: { fields: ["owner"] } }, threshold: 1 };
  worker.send({ type: "match", node: "https://vendor.example", invitation: "ab".repeat(32), shares });
  const results = await worker.next("results");
  // What the page revealed after the session, before its done: elements, counts and the chosen
  // owners; no name, domain or id of the partner's file.
  const sent = socket.sent.map((m) => m.type ?? "invitation");
  assert.deepEqual(sent, ["invitation", "reveal", "done"]);
  const reveal = socket.sent[1];
  assert.ok(reveal.records.length > 0 && reveal.records.every((r) => r.elements.every((e) => /^[0-9a-f]{64}$/.test(e))));
  assert.ok(reveal.records.some((r) => r.fields.owner === "Linus Torvalds"));
  assert.ok(reveal.counts.length > 0);
  for (const secret of ["NORTHWIND", "northwindtraders", "9001120031"]) assert.ok(!JSON.stringify(reveal).includes(secret), secret);
  assert.equal(results.results.shared_with_them.accounts, new Set(results.results.overlaps.filter((o) => o.own_segment === "customers").map((o) => o.account_id)).size);
  assert.equal(results.fieldsError, null);
});

sessionTest("fields that do not fit what was revealed are left out, and the results stand", async () => {
  const Socket = vendorSocket(join(root, "samples/vendor-salesforce.csv"));
  Socket.fields = { type: "fields", records: [{ record: 99999, fields: { owner: "Someone" } }] };
  const { worker } = await readyWorker(Socket);
  worker.send({ type: "import", file: file("partner-hubspot.csv", sample("partner-hubspot.csv")), preset: "auto", mapping: null });
  await worker.next("imported");
  worker.send({ type: "match", node: "https://vendor.example", invitation: "ab".repeat(32), shares: { default: "overlaps", threshold: 1 } });
  const results = await worker.next("results");
  assert.match(results.fieldsError, /fields for record 99999, which was not revealed/);
  assert.ok(results.results.overlaps.length > 0 && results.results.overlaps.every((o) => o.partner_fields.length === 0));
  assert.equal(results.results.shared_with_them.returned, 0);
  assert.equal(results.run, "run_test");
  assert.equal(results.confirmed, true);
  const northwind = results.results.overlaps.find((o) => o.account_id === "9001120031");
  assert.equal(northwind.name, "NORTHWIND TRADERS");
  assert.match(northwind.reason, /^confirmed/);
  assert.ok(results.csv.startsWith("Account,Account ID,Your segment,Owner,Their segment,Match,Why,Matched on\n"));
  assert.equal(results.results.shared_with_you, "overlaps");
  const progress = worker.posted.filter((m) => m.type === "match-progress" && m.phase === "matching").at(-1);
  assert.ok(progress && progress.total > 0);
});

sessionTest(`the browser's side of ${benchRows} accounts: import and session timed`, async () => {
  const dir = mkdtempSync(join(tmpdir(), "partner-page-"));
  const vendorCsv = join(dir, "vendor.csv");
  writeFileSync(vendorCsv, generic(benchRows, benchRows / 2));
  const partner = generic(benchRows, 0);
  const { worker } = await readyWorker(undefined);
  const wb = vm.runInContext("wasm_bindgen", worker.context);
  let started = performance.now();
  const job = new wb.Import("partner.csv", partner, "generic", undefined);
  while (!job.step(2000));
  const importMs = performance.now() - started;
  assert.equal(job.accounts, benchRows);

  // The session, timing only what the page's side computes (the wasm calls).
  const session = new wb.PartnerSession(job);
  const vendor = spawn(vendorProgram, [vendorCsv], { stdio: ["pipe", "pipe", "inherit"] });
  let busy = 0;
  const timed = (f) => {
    const t = performance.now();
    const r = f();
    busy += performance.now() - t;
    return r;
  };
  let keys = 0;
  const flush = () => {
    let frame;
    while ((frame = timed(() => session.pollTransmit())) !== undefined) {
      if (frame[1] === 0x01) keys = helloKeys(frame);
      vendor.stdin.write(frame);
    }
  };
  started = performance.now();
  await new Promise((resolve, reject) => {
    vendor.stdout.on(
      "data",
      frames((f) => {
        try {
          timed(() => session.receive(new Uint8Array(f)));
          flush();
          if (session.isFinished) resolve();
        } catch (e) {
          reject(e);
        }
      }),
    );
    vendor.on("exit", () => setTimeout(() => (session.isFinished ? resolve() : reject(new Error("the vendor ended early"))), 50));
    flush();
  });
  const wallMs = performance.now() - started;
  vendor.stdin.end();
  const results = JSON.parse(session.resultJson());
  // Every third row of the vendor's list overlaps: the second half of the partner's.
  assert.equal(results.accounts, benchRows / 2);
  console.log(
    `# ${benchRows} rows: import ${importMs.toFixed(0)} ms (${((importMs * 1000) / benchRows).toFixed(1)} µs/row); ` +
      `session ${wallMs.toFixed(0)} ms in all, the page's side ${busy.toFixed(0)} ms ` +
      `(${((busy * 1000) / keys).toFixed(1)} µs per key, ${keys} keys); ` +
      `${session.bytesSent} B sent, ${session.bytesReceived} B received`,
  );
});
