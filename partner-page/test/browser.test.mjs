// The built partner page in headless Chromium (through chromedriver), against a stand-in for
// the vendor's node (fake-node.mjs) whose session is the native vendor program: the served page
// under the node's CSP, and the single file opened from disk under its own. Each reads the
// invitation, imports samples/partner-hubspot.csv, matches, and shows the overlaps; the browser
// logs no error (a CSP violation, an integrity failure) on the way.
//
// Needs chromium and chromedriver (skipped without them unless CI=true), and the vendor program
// (target/debug/blindmap-wasm-vendor or BLINDMAP_VENDOR). SCREENSHOTS=DIR saves a picture of each end.

import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { startFakeNode } from "./fake-node.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const page = process.env.PARTNER_PAGE_OUT || join(root, "target/partner-page");
const vendorProgram = process.env.BLINDMAP_VENDOR || resolve(root, process.env.CARGO_TARGET_DIR || "target", "debug/blindmap-wasm-vendor");
const secret = "5e".repeat(32);

const which = (name) => {
  try {
    return execFileSync("sh", ["-c", `command -v ${name}`]).toString().trim();
  } catch {
    return null;
  }
};
const chromium = which("chromium") || which("chromium-browser") || which("google-chrome");
const chromedriver = which("chromedriver");
const runnable = Boolean(chromium && chromedriver && existsSync(vendorProgram));
if (!runnable && process.env.CI === "true") throw new Error("CI needs chromium, chromedriver and the vendor program");
const browserTest = runnable ? test : test.skip;

let driver;
let node;
let profile;
let base;
let session;

async function wd(method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json.value)}`);
  return json.value;
}

const run = (script, ...args) => wd("POST", `/session/${session}/execute/sync`, { script, args });

async function until(what, script, timeoutMs = 60_000) {
  const started = Date.now();
  for (;;) {
    const value = await run(script);
    if (value) return value;
    if (Date.now() - started > timeoutMs) {
      const shown = await run("return document.querySelector('main').innerText");
      throw new Error(`timed out waiting for ${what}; the page shows:\n${shown}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function element(css) {
  const found = await wd("POST", `/session/${session}/element`, { using: "css selector", value: css });
  return Object.values(found)[0];
}

async function errorsLogged() {
  const entries = await wd("POST", `/session/${session}/se/log`, { type: "browser" });
  return entries.filter((e) => e.level === "SEVERE").map((e) => e.message);
}

async function screenshot(name) {
  if (!process.env.SCREENSHOTS) return;
  const png = await wd("GET", `/session/${session}/screenshot`);
  writeFileSync(join(process.env.SCREENSHOTS, `${name}.png`), Buffer.from(png, "base64"));
}

before(async () => {
  if (!runnable) return;
  node = await startFakeNode({ page, vendorProgram, vendorCsv: join(root, "samples/vendor-salesforce.csv"), secret });
  const port = 9500 + Math.floor(Math.random() * 400);
  driver = spawn(chromedriver, [`--port=${port}`], { stdio: "ignore" });
  base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await fetch(`${base}/status`);
      break;
    } catch {
      if (i > 100) throw new Error("chromedriver did not start");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  profile = mkdtempSync(join(tmpdir(), "partner-page-chromium-"));
  const created = await wd("POST", "/session", {
    capabilities: {
      alwaysMatch: {
        browserName: "chrome",
        acceptInsecureCerts: true,
        "goog:loggingPrefs": { browser: "ALL" },
        "goog:chromeOptions": {
          binary: chromium,
          args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--ignore-certificate-errors", `--user-data-dir=${profile}`,
            "--window-size=1280,1600"],
        },
      },
    },
  });
  session = created.sessionId;
});

after(async () => {
  if (session) await wd("DELETE", `/session/${session}`).catch(() => {});
  driver?.kill();
  await node?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** From a page showing the invitation: import the sample, match, check the results. */
async function importAndMatch(name) {
  await until("the invitation", "return document.getElementById('vendor-name').textContent === 'Vendor Co'");
  const file = await element("#file");
  await wd("POST", `/session/${session}/element/${file}/value`, { text: join(root, "samples/partner-hubspot.csv") });
  const read = await until("the preview", "const p = document.getElementById('preview'); return !p.hidden && p.innerText");
  assert.match(read, /29 rows → \d+ accounts to match/);
  assert.match(read, /gmail\.com/);
  await screenshot(`${name}-preview`);
  await wd("POST", `/session/${session}/element/${await element("#match")}/click`, {});
  const summary = await until(
    "the results",
    "return !document.getElementById('step-results').hidden && document.getElementById('results-summary').textContent",
  );
  assert.match(summary, /of your accounts overlap Vendor Co's/);
  const overlaps = await run("return document.getElementById('overlaps').innerText");
  assert.match(overlaps, /NORTHWIND TRADERS \(9001120031\)/);
  const focused = await run("return document.activeElement.id");
  assert.equal(focused, "h-results", "focus moves to the results");
  await screenshot(name);
  assert.deepEqual(await errorsLogged(), []);
}

browserTest("the served page, under the node's CSP, matches through its link", async () => {
  const runs = node.runs;
  await wd("POST", `/session/${session}/url`, { url: `${node.url}/join#${secret}` });
  await importAndMatch("served");
  assert.equal(await run("return document.getElementById('link-form').checkVisibility()"), false, "no link to paste");
  assert.equal(node.runs, runs + 1, "the node saw the session through to done");
  const integrity = await run("return document.getElementById('integrity').innerText");
  assert.match(integrity, /SHA-256 is [0-9a-f]{64}/);
});

browserTest("an unknown link shows the node's word on it", async () => {
  await wd("POST", `/session/${session}/url`, { url: "about:blank" });
  await wd("POST", `/session/${session}/url`, { url: `${node.url}/join#${"0".repeat(64)}` });
  const error = await until("the refusal", "const e = document.getElementById('invitation-error'); return !e.hidden && e.textContent");
  assert.match(error, /This link is unknown: ask Vendor Co for a new one/);
  // The browser logs the 403 itself; nothing else.
  assert.ok((await errorsLogged()).every((m) => m.includes("403")));
});

browserTest("the single file, opened from disk, asks for the link and matches", async () => {
  await wd("POST", `/session/${session}/url`, { url: `file://${join(page, "blindmap-partner.html")}` });
  await until("the link form", "return !document.getElementById('link-form').hidden");
  const link = await element("#link");
  await wd("POST", `/session/${session}/element/${link}/value`, { text: `${node.url}/join#${secret}` });
  await wd("POST", `/session/${session}/element/${await element("#link-form button")}/click`, {});
  await importAndMatch("single-file");
  const integrity = await run("return document.getElementById('integrity').innerText");
  assert.match(integrity, /sha256sum blindmap-partner\.html/);
});
