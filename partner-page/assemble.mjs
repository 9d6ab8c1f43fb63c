// Assembles the partner page (spec §20.4) from its sources and the built WebAssembly:
//
//   node partner-page/assemble.mjs --wasm W --glue G --out DIR
//
// W and G are wasm-bindgen's output (`--target no-modules`). DIR gets, and nothing else:
// - the assets, each named by its content's hash: app-….js (the page), style-….css,
//   worker-….js (wasm-bindgen's glue, then worker.js), blindmap-….wasm;
// - index.html, the page the node serves at /join: no inline script or style, every asset under
//   /join/assets/ with its Subresource Integrity;
// - blindmap-partner.html, the same page as one self-contained file (its CSP in a meta element
//   allowing its one inline script and style by hash), and blindmap-partner.html.sha256;
// - manifest.json: every file with its SHA-384 SRI value, SHA-256, size and content type.
// Everything depends on the inputs' bytes only (no time, no path), so that a rebuild anywhere
// gives the same files. Prints each file's size, raw and compressed, and the single file's SHA-256.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv
    .slice(2)
    .map((a, i, all) => (a.startsWith("--") ? [a.slice(2), all[i + 1]] : null))
    .filter(Boolean),
);
for (const need of ["wasm", "glue", "out"]) {
  if (!args[need]) throw new Error(`usage: node assemble.mjs --wasm W --glue G --out DIR (missing --${need})`);
}

const ASSETS = "/join/assets/";
const SINGLE = "blindmap-partner.html";

const digest = (alg, bytes) => createHash(alg).update(bytes).digest();
const sri = (bytes) => `sha384-${digest("sha384", bytes).toString("base64")}`;
const sha256 = (bytes) => digest("sha256", bytes).toString("hex");
const named = (stem, ext, bytes) => `${stem}-${sha256(bytes).slice(0, 16)}.${ext}`;
const text = (p) => readFileSync(p, "utf8");
const escapeAttr = (s) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");

const app = text(join(here, "app.js"));
const css = text(join(here, "style.css"));
const template = text(join(here, "index.html"));
const glue = text(args.glue);
const wasm = readFileSync(args.wasm);
const worker = `${glue.trimEnd()}\n\n${text(join(here, "worker.js"))}`;

for (const [name, body, end] of [["app.js", app, "</script"], ["style.css", css, "</style"]]) {
  if (body.toLowerCase().includes(end)) throw new Error(`${name} contains "${end}": it cannot be inlined`);
}
for (const marker of ["<!-- blindmap:head -->", "<!-- blindmap:body -->"]) {
  if (!template.includes(marker)) throw new Error(`index.html has no ${marker}`);
}

const assets = [
  { stem: "app", ext: "js", bytes: Buffer.from(app), type: "text/javascript; charset=utf-8" },
  { stem: "style", ext: "css", bytes: Buffer.from(css), type: "text/css; charset=utf-8" },
  { stem: "worker", ext: "js", bytes: Buffer.from(worker), type: "text/javascript; charset=utf-8" },
  { stem: "blindmap", ext: "wasm", bytes: wasm, type: "application/wasm" },
].map((a) => ({ ...a, file: named(a.stem, a.ext, a.bytes), integrity: sri(a.bytes) }));
const asset = (stem) => assets.find((a) => a.stem === stem);

// The build: the served page's code, named by its assets' hashes. Both pages show it.
const build = sha256(assets.map((a) => `${a.file} ${a.integrity}\n`).join("")).slice(0, 16);

// The single file: everything inline; the worker and the WebAssembly as base64 data blocks
// (not scripts: the browser runs neither, the page starts the worker from a Blob).
const hashOf = (s) => `'sha256-${digest("sha256", Buffer.from(s)).toString("base64")}'`;
const csp = [
  "default-src 'none'",
  `script-src ${hashOf(app)} 'wasm-unsafe-eval'`,
  "worker-src blob:",
  "connect-src https: wss:",
  `style-src ${hashOf(css)}`,
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");
const singleHtml = template
  .replace(
    "<!-- blindmap:head -->",
    [
      `<meta http-equiv="Content-Security-Policy" content="${escapeAttr(csp)}">`,
      '<meta name="blindmap:mode" content="single-file">',
      `<meta name="blindmap:build" content="${build}">`,
      `<style>${css}</style>`,
      `<script type="module">${app}</script>`,
    ].join("\n"),
  )
  .replace(
    "<!-- blindmap:body -->",
    [
      `<script type="application/octet-stream" id="blindmap-worker">${Buffer.from(worker).toString("base64")}</script>`,
      `<script type="application/octet-stream" id="blindmap-wasm">${wasm.toString("base64")}</script>`,
    ].join("\n"),
  );
const single = Buffer.from(singleHtml);
const singleSha = sha256(single);

// The served page: nothing inline; the assets by address and integrity.
const served = Buffer.from(
  template
    .replace(
      "<!-- blindmap:head -->",
      [
        '<meta name="blindmap:mode" content="served">',
        `<meta name="blindmap:build" content="${build}">`,
        `<meta name="blindmap:worker" content="${ASSETS}${asset("worker").file}">`,
        `<meta name="blindmap:worker-integrity" content="${asset("worker").integrity}">`,
        `<meta name="blindmap:wasm" content="${ASSETS}${asset("blindmap").file}">`,
        `<meta name="blindmap:wasm-integrity" content="${asset("blindmap").integrity}">`,
        `<meta name="blindmap:single-file-sha256" content="${singleSha}">`,
        `<link rel="stylesheet" href="${ASSETS}${asset("style").file}" integrity="${asset("style").integrity}">`,
        `<script type="module" src="${ASSETS}${asset("app").file}" integrity="${asset("app").integrity}"></script>`,
      ].join("\n"),
    )
    .replace("<!-- blindmap:body -->\n", ""),
);

const out = args.out;
mkdirSync(out, { recursive: true });
for (const f of readdirSync(out)) rmSync(join(out, f), { recursive: true, force: true });
const files = [
  ...assets.map((a) => ({ file: a.file, bytes: a.bytes, type: a.type })),
  { file: "index.html", bytes: served, type: "text/html; charset=utf-8" },
  { file: SINGLE, bytes: single, type: "text/html; charset=utf-8" },
  { file: `${SINGLE}.sha256`, bytes: Buffer.from(`${singleSha}  ${SINGLE}\n`), type: "text/plain; charset=utf-8" },
];
for (const f of files) writeFileSync(join(out, f.file), f.bytes);
const manifest = {
  build,
  index: "index.html",
  single_file: { file: SINGLE, sha256: singleSha },
  files: files.map((f) => ({
    file: f.file,
    integrity: sri(f.bytes),
    sha256: sha256(f.bytes),
    content_type: f.type,
    bytes: f.bytes.length,
  })),
};
writeFileSync(join(out, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);

// Sizes: what a browser downloads for the served page, compressed as a server would.
const gz = (b) => gzipSync(b, { level: 9 }).length;
const br = (b) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`.padStart(11);
console.log(`${"file".padEnd(34)}${"raw".padStart(11)}${"gzip -9".padStart(11)}${"brotli 11".padStart(11)}`);
let total = [0, 0, 0];
for (const f of files) {
  if (f.file.endsWith(".sha256")) continue;
  // The single file is saved, not served: its brotli size (slow to measure) says little.
  const row = [f.bytes.length, gz(f.bytes), f.file === SINGLE ? null : br(f.bytes)];
  if (f.file !== SINGLE) total = total.map((t, i) => t + row[i]);
  console.log(`${f.file.padEnd(34)}${row.map((n) => (n === null ? "-".padStart(11) : kb(n))).join("")}`);
}
console.log(`${"the served page's download".padEnd(34)}${total.map(kb).join("")}`);
console.log(`build ${build}`);
console.log(`${SINGLE} SHA-256 ${singleSha}`);
