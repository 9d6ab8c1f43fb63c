// A stand-in for the vendor's node, for the page's browser test: serves the built page as the
// node does (/join, /join/assets/…, /join/blindmap-partner.html, with the node's CSP), answers
// POST /browser/v1/invitation for one secret, and runs GET /browser/v1/session — a WebSocket
// (RFC 6455, the little of it a browser uses) whose frames go to and from the native vendor
// program (crates/blindmap-wasm/src/bin/vendor.rs). HTTPS with a throwaway certificate, so
// that the saved single file (which connects to https: and wss: only) can use it too.

import { spawn, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";

const CSP =
  "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; " +
  "style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const TYPES = { html: "text/html; charset=utf-8", js: "text/javascript; charset=utf-8", css: "text/css; charset=utf-8", wasm: "application/wasm", json: "application/json" };

function certificate() {
  const dir = mkdtempSync(join(tmpdir(), "fake-node-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-subj", "/CN=localhost", "-days", "1"], { stdio: "ignore" });
  const pair = { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) };
  rmSync(dir, { recursive: true });
  return pair;
}

/** One WebSocket message out (unmasked, as a server sends). */
function wsFrame(opcode, payload) {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (len >= 126) {
    head[0] = 0x80 | opcode;
    if (len < 65536) {
      head[1] = 126;
      head.writeUInt16BE(len, 2);
    } else {
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(len), 2);
    }
  }
  return Buffer.concat([head, payload]);
}

/** Cuts a client's byte stream into whole messages: (opcode, payload). */
function wsReader(onMessage) {
  let buffer = Buffer.alloc(0);
  let parts = [];
  let first = 0;
  return (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (buffer.length < 2) return;
      let len = buffer[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (buffer.length < 4) return;
        len = buffer.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (buffer.length < 10) return;
        len = Number(buffer.readBigUInt64BE(2));
        at = 10;
      }
      if (buffer.length < at + 4 + len) return;
      const mask = buffer.subarray(at, at + 4);
      const payload = Buffer.from(buffer.subarray(at + 4, at + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
      const fin = buffer[0] & 0x80;
      const opcode = buffer[0] & 0x0f;
      buffer = buffer.subarray(at + 4 + len);
      if (opcode >= 8) {
        onMessage(opcode, payload);
        continue;
      }
      if (opcode !== 0) first = opcode;
      parts.push(payload);
      if (fin) {
        onMessage(first, Buffer.concat(parts));
        parts = [];
      }
    }
  };
}

/** Cuts the vendor program's output into protocol frames (spec §8.1: the length at 22..26). */
function frameReader(onFrame) {
  let buffer = Buffer.alloc(0);
  return (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 26 && buffer.length >= 26 + buffer.readUInt32BE(22)) {
      const len = 26 + buffer.readUInt32BE(22);
      onFrame(buffer.subarray(0, len));
      buffer = buffer.subarray(len);
    }
  };
}

/**
 * Starts the stand-in on a free loopback port. `page`: the built page's folder; `vendor`: the
 * vendor program and its export; `secret`: the one invitation it knows. Resolves to
 * `{url, close, runs}` (`runs` counts finished sessions).
 */
export async function startFakeNode({ page, vendorProgram, vendorCsv, secret, allowFile = true }) {
  const state = { runs: 0, origin: null };
  const server = createServer(certificate(), (req, res) => {
    const url = new URL(req.url, state.origin);
    const send = (status, type, body, extra = {}) => {
      res.writeHead(status, { "content-type": type, "content-security-policy": CSP, "x-content-type-options": "nosniff", ...extra });
      res.end(body);
    };
    const cors = allowFile && req.headers.origin === "null" ? { "access-control-allow-origin": "null" } : {};
    if (req.method === "GET" && (url.pathname === "/join" || url.pathname.startsWith("/join/"))) {
      const name = url.pathname === "/join" ? "index.html" : url.pathname.replace(/^\/join\/(assets\/)?/, "");
      try {
        const body = readFileSync(join(page, name.replace(/[^A-Za-z0-9._-]/g, "")));
        return send(200, TYPES[name.split(".").pop()] || "text/plain", body);
      } catch {
        return send(404, "text/plain", "not found");
      }
    }
    if (url.pathname === "/browser/v1/invitation" && req.method === "OPTIONS") {
      return send(204, "text/plain", "", { ...cors, "access-control-allow-methods": "POST", "access-control-allow-headers": "content-type" });
    }
    if (url.pathname === "/browser/v1/invitation" && req.method === "POST") {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        let invitation = null;
        try {
          invitation = JSON.parse(body).invitation;
        } catch {}
        if (invitation !== secret) {
          const problem = { title: "Forbidden", status: 403, detail: "This link is unknown: ask Vendor Co for a new one." };
          return send(403, "application/problem+json", JSON.stringify(problem), cors);
        }
        const answer = {
          vendor: "Vendor Co",
          partner: "Partner Co",
          expires_at: "2099-01-01T00:00:00Z",
          shares: [{ own_segment: "*", partner_segment: "*", level: "overlaps" }],
          min_partner_segment: 1,
          max_records: 100000,
        };
        return send(200, "application/json", JSON.stringify(answer), cors);
      });
      return;
    }
    send(404, "text/plain", "not found");
  });
  server.on("upgrade", (req, socket) => {
    const origin = req.headers.origin;
    if (req.url !== "/browser/v1/session" || !(origin === state.origin || (allowFile && origin === "null"))) {
      socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
      return;
    }
    const accept = createHash("sha1").update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    let vendor = null;
    let pageDone = false;
    let vendorDone = false;
    const text = (value) => socket.write(wsFrame(1, Buffer.from(JSON.stringify(value))));
    const maybeDone = () => {
      if (pageDone && vendorDone) {
        text({ type: "done" });
        state.runs += 1;
        socket.end(wsFrame(8, Buffer.from([0x03, 0xe8])));
      }
    };
    socket.on("error", () => vendor?.kill());
    socket.on("close", () => vendor?.kill());
    socket.on(
      "data",
      wsReader((opcode, payload) => {
        if (opcode === 8) return socket.end(wsFrame(8, Buffer.alloc(0)));
        if (opcode === 9) return socket.write(wsFrame(10, payload));
        if (opcode === 1) {
          const message = JSON.parse(payload.toString());
          if (!vendor) {
            if (message.invitation !== secret) {
              text({ type: "error", status: 403, title: "Forbidden", detail: "This link is unknown." });
              return socket.end(wsFrame(8, Buffer.from([0x03, 0xf0])));
            }
            vendor = spawn(vendorProgram, [vendorCsv], { stdio: ["pipe", "pipe", "inherit"] });
            vendor.stdout.on("data", frameReader((f) => socket.write(wsFrame(2, f))));
            vendor.on("exit", () => {
              vendorDone = true;
              maybeDone();
            });
            return text({ type: "ready", run: `run_${state.runs + 1}` });
          }
          if (message.type === "done") {
            pageDone = true;
            return maybeDone();
          }
          return;
        }
        if (opcode === 2 && vendor) vendor.stdin.write(payload);
      }),
    );
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.origin = `https://127.0.0.1:${server.address().port}`;
  return {
    url: state.origin,
    get runs() {
      return state.runs;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
    server,
  };
}
