// The partner page (spec §20): reads the invitation, hands the export to the worker for the
// import and the session, and shows what came of them. No framework, no inline script or style;
// every text from the file or the node goes into the page as text, never as markup.
//
// The page's build writes what it needs into <meta> elements (partner-page/assemble.mjs):
// blindmap:mode ("served" or "single-file"), blindmap:build, and for the served page the worker's
// and the WebAssembly's addresses and Subresource Integrity, and the single file's SHA-256.

const SECRET = /^[0-9a-f]{64}$/;
/** Overlapping accounts listed in the page; the CSV has them all. */
const LISTED = 500;
/** First accounts and values not used that the preview lists. */
const PREVIEW_ROWS = 20;

const $ = (id) => document.getElementById(id);
const meta = (name) => document.querySelector(`meta[name="blindmap:${name}"]`)?.content ?? "";
const single = meta("mode") === "single-file";

/** An element with attributes and children (strings become text). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v == null) continue;
    if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const number = (n) => Number(n).toLocaleString("en");
/** A field's name in words: `lifecycle_stage` → `lifecycle stage`. */
const words = (name) => String(name).replace(/_/g, " ");
const plural = (n, one, many) => `${number(n)} ${n === 1 ? one : many}`;

function show(el, visible = true) {
  el.hidden = !visible;
}

function bytes(n) {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/**
 * A table inside a scroll region a keyboard can scroll, named by its caption. `numeric`: the
 * columns aligned as numbers; `rowHeads`: whether each row's first cell names the row.
 */
function table(id, caption, head, rows, numeric = [], rowHeads = false) {
  const captionId = `${id}-caption`;
  return h(
    "div",
    { class: "table-scroll", tabindex: 0, role: "region", "aria-labelledby": captionId },
    h(
      "table",
      { id },
      h("caption", { id: captionId }, caption),
      h("thead", {}, h("tr", {}, head.map((t, i) => h("th", { scope: "col", class: numeric.includes(i) ? "num" : null }, t)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h(
            "tr",
            {},
            row.map((c, i) =>
              rowHeads && i === 0 ? h("th", { scope: "row" }, c) : h("td", { class: numeric.includes(i) ? "num" : null }, c),
            ),
          ),
        ),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// The invitation

const state = { node: null, secret: null, invitation: null, preview: null, accounts: 0, results: null, csv: null };

function parseLink(text) {
  let url;
  try {
    url = new URL(text.trim());
  } catch {
    return { error: "This is not a link: paste the whole link, starting with https://." };
  }
  const secret = url.hash.replace(/^#/, "");
  if (!SECRET.test(secret)) return { error: "The link has no invitation after its # (64 letters and digits)." };
  if (single && url.protocol !== "https:") return { error: "The link must start with https://." };
  if (!single && url.origin !== location.origin) {
    return { error: `This link is for another node (${url.origin}): open it directly in your browser.` };
  }
  return { node: url.origin, secret };
}

async function readInvitation() {
  const status = $("invitation-status");
  status.textContent = "Reading the invitation…";
  show($("invitation-error"), false);
  let response;
  try {
    response = await fetch(new URL("/browser/v1/invitation", state.node), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ invitation: state.secret }),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
  } catch {
    status.textContent = "";
    return invitationError(`The vendor's node (${state.node}) could not be reached. Check your connection and reload.`);
  }
  const body = await response.json().catch(() => null);
  status.textContent = "";
  if (!response.ok || !body) {
    const words = body && (body.detail || body.title);
    return invitationError(words || `The vendor's node refused the invitation (HTTP ${response.status}).`);
  }
  state.invitation = body;
  showInvitation(body);
}

function invitationError(text) {
  $("invitation-error").textContent = text;
  show($("invitation-error"));
  if (single) show($("link-form"));
}

function showInvitation(inv) {
  $("vendor-name").textContent = inv.vendor;
  $("partner-name").textContent = inv.partner;
  const expires = new Date(inv.expires_at);
  $("expires").textContent = Number.isNaN(expires.getTime()) ? inv.expires_at : expires.toLocaleString();
  $("node").textContent = state.node;
  const any = (s) => (s === "*" ? "any" : s);
  const learn = { overlaps: "which of your accounts overlap", fields: "which overlap", counts: "nothing", hidden: "nothing" };
  const learnOf = (s) =>
    (learn[s.level] || s.level) +
    (s.fields && s.fields.length ? `, and their ${s.fields.map(words).join(", ")} for the overlaps you share with them` : "");
  $("shares").tBodies[0].replaceChildren(
    ...(inv.shares || []).map((s) => h("tr", {}, h("td", {}, any(s.own_segment)), h("td", {}, any(s.partner_segment)), h("td", {}, learnOf(s)))),
  );
  if (!(inv.shares || []).length) $("shares").tBodies[0].append(h("tr", {}, h("td", { colspan: 3 }, "Nothing yet: they share no segment with you.")));
  $("title").textContent = `Match your accounts with ${inv.vendor}`;
  $("sharing-vendor").textContent = inv.vendor;
  $("sharing-about").textContent =
    `Whatever you choose, ${inv.vendor} sees your segments' names and sizes, as every match shows them, and nothing of ` +
    "your accounts that do not overlap. What you choose here is sent after the match, from the results in this page.";
  const returned = (inv.shares || []).filter((s) => s.fields && s.fields.length);
  $("sharing-back").textContent = returned.length
    ? `In return, ${inv.vendor} shows you its ${[...new Set(returned.flatMap((s) => s.fields))].map(words).join(", ")} ` +
      "for the overlapping accounts you let it see (“Which accounts overlap” or more)."
    : "";
  show($("invitation"));
  show($("link-form"), false);
  show($("step-import"));
  $("match").textContent = `Match with ${inv.vendor}`;
  $("match-about").textContent =
    `Your accounts are matched with ${inv.vendor}'s by private set intersection: this page sends only blinded, encrypted ` +
    `values of your keys, and ${inv.vendor} learns neither your accounts nor which of them overlap. ` +
    `This invitation takes up to ${number(inv.max_records)} accounts.`;
}

function startInvitation() {
  if (single) {
    $("invitation-status").textContent = "This is the page saved as one file: it needs your invitation link.";
    show($("link-form"));
    return;
  }
  const secret = location.hash.replace(/^#/, "");
  if (!SECRET.test(secret)) {
    $("invitation-status").textContent = "Open the invitation link your vendor sent you, or paste it here.";
    show($("link-form"));
    return;
  }
  state.node = location.origin;
  state.secret = secret;
  readInvitation();
}

$("link-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const link = parseLink($("link").value);
  if (link.error) return invitationError(link.error);
  state.node = link.node;
  state.secret = link.secret;
  $("link").value = "";
  readInvitation();
});

// ---------------------------------------------------------------------------------------------
// The worker

let worker = null;
let workerReady = null;

function base64Bytes(id) {
  const text = $(id).textContent.trim();
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

async function startWorker() {
  let wasm;
  if (single) {
    const source = base64Bytes("blindmap-worker");
    worker = new Worker(URL.createObjectURL(new Blob([source], { type: "text/javascript" })));
    wasm = { bytes: base64Bytes("blindmap-wasm").buffer };
  } else {
    // A worker's script cannot carry Subresource Integrity: fetch it with its integrity, so that
    // a node serving other bytes fails here, and start the worker from exactly the bytes checked.
    const url = meta("worker");
    const checked = await fetch(url, { integrity: meta("worker-integrity"), credentials: "omit" });
    if (!checked.ok) throw new Error(`the page's worker did not load (HTTP ${checked.status})`);
    const source = await checked.blob();
    worker = new Worker(URL.createObjectURL(new Blob([source], { type: "text/javascript" })));
    // Absolute: a blob: worker has no base to resolve a path against.
    wasm = { url: new URL(meta("wasm"), location.href).href, integrity: meta("wasm-integrity") };
  }
  worker.onmessage = (event) => onWorker(event.data);
  worker.onerror = (event) => fatal(event.message || "the page's worker stopped");
  worker.postMessage({ type: "init", wasm }, wasm.bytes ? [wasm.bytes] : []);
  return new Promise((resolve) => {
    workerReady = resolve;
  });
}

function fatal(message) {
  for (const id of ["import-error", "match-error-text"]) $(id).textContent = "";
  const text = `Something went wrong inside this page (${message}). Reload it to start again.`;
  $("invitation-error").textContent = text;
  show($("invitation-error"));
  show($("step-import"), false);
  show($("step-match"), false);
}

function onWorker(message) {
  switch (message.type) {
    case "ready":
      $("version").textContent = message.version;
      workerReady?.();
      return;
    case "fatal":
      return fatal(message.message);
    case "import-progress":
      return importProgress(message);
    case "imported":
      return imported(message);
    case "import-error":
      return importError(message.message);
    case "match-progress":
      return matchProgress(message);
    case "results":
      return results(message);
    case "match-error":
      return matchError(message);
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// The import

let mappingText = null;

async function startImport() {
  const file = $("file").files[0];
  if (!file) return;
  await ready;
  if (!worker) return;
  state.preview = null;
  show($("preview"), false);
  show($("import-error"), false);
  show($("step-match"), false);
  show($("step-results"), false);
  $("import-progress").value = 0;
  show($("import-progress"));
  $("import-text").textContent = `Reading ${file.name}…`;
  worker.postMessage({ type: "import", file, preset: $("preset").value, mapping: mappingText });
}

function importProgress(p) {
  $("import-progress").max = Math.max(1, p.totalBytes);
  $("import-progress").value = p.bytesRead;
  $("import-text").textContent = `${plural(p.rows, "row", "rows")} read, ${bytes(p.bytesRead)} of ${bytes(p.totalBytes)}`;
}

function importError(text) {
  show($("import-progress"), false);
  $("import-text").textContent = "";
  $("import-error").replaceChildren(
    h("p", {}, "This file could not be read:"),
    h("p", {}, text),
    h("p", { class: "muted" }, "Fix the file (or choose how to read it) and choose it again. Nothing was sent."),
  );
  show($("import-error"));
}

function imported({ preview, accounts }) {
  show($("import-progress"), false);
  state.preview = preview;
  state.accounts = accounts;
  $("import-text").textContent = `${preview.file}: ${plural(preview.summary.rows, "row", "rows")} read as ${preview.read_as}.`;
  renderPreview(preview);
  renderSharing(preview);
  const max = state.invitation?.max_records ?? Infinity;
  const matchButton = $("match");
  show($("step-match"));
  show($("match-error"), false);
  if (accounts === 0) {
    $("match-text").textContent = "No account of this file can be matched: see above why.";
    matchButton.disabled = true;
  } else if (accounts > max) {
    $("match-text").textContent = `This file has ${number(accounts)} accounts to match; the invitation takes up to ${number(max)}. Match a part of it (a segment, a region) at a time.`;
    matchButton.disabled = true;
  } else {
    $("match-text").textContent = `${plural(accounts, "account", "accounts")} ready to match.`;
    matchButton.disabled = false;
  }
}

function renderPreview(p) {
  const s = p.summary;
  const k = s.keys;
  const parts = [
    h("h3", {}, "What the file holds"),
    h(
      "ul",
      { class: "plain" },
      h("li", {}, `${plural(s.rows, "row", "rows")} → ${plural(s.accounts, "account", "accounts")} to match`),
      h("li", {}, `Keys: ${number(k.domain)} domains, ${number(k.duns)} DUNS numbers, ${number(k.name_country)} names with their country; evidence: ${number(k.postal_code)} postal codes, ${number(k.phone)} phone numbers`),
      s.rows_without_keys.count > 0 && h("li", {}, `${plural(s.rows_without_keys.count, "row", "rows")} without any usable key, left out (lines ${lines(s.rows_without_keys)})`),
      s.unsegmented_rows.count > 0 && h("li", {}, `${plural(s.unsegmented_rows.count, "row", "rows")} that no segment rule placed, left out (lines ${lines(s.unsegmented_rows)})`),
      s.truncated_fields > 0 && h("li", {}, `${plural(s.truncated_fields, "field value", "field values")} cut to 1,024 bytes`),
      s.blank_lines > 0 && h("li", {}, `${plural(s.blank_lines, "blank line", "blank lines")} skipped`),
    ),
  ];
  if (s.segments.length) {
    parts.push(table("segments", "Your segments", ["Segment", "Accounts"], s.segments.map(([l, n]) => [l, number(n)]), [1]));
  }
  if (s.values_not_used_as_keys.length) {
    parts.push(table("reasons", "Values not used as keys, by reason", ["Why", "Values"], s.values_not_used_as_keys.map((r) => [r.why, number(r.count)]), [1]));
  }
  parts.push(
    table(
      "accounts",
      `The first ${Math.min(PREVIEW_ROWS, p.accounts.length)} rows, as read`,
      ["Line", "Account", "Segment", "Keys", "Not used"],
      p.accounts.slice(0, PREVIEW_ROWS).map((a) => [
        number(a.line),
        `${a.name ?? ""} (${a.id})`,
        a.segment ?? "(no segment rule placed it)",
        keysOf(a),
        a.not_keys.map((n) => `${n.column}: "${n.value}" (${n.why})`).join("; "),
      ]),
      [0],
    ),
  );
  if (p.not_keys.length) {
    parts.push(
      table(
        "not-keys",
        p.not_keys.length < sumReasons(s) ? `The first ${p.not_keys.length} values not used as keys` : "Values not used as keys",
        ["Line", "Column", "Value", "Why"],
        p.not_keys.map((n) => [number(n.line), n.column, n.value, n.why]),
        [0],
      ),
    );
  }
  $("preview").replaceChildren(...parts);
  show($("preview"));
}

const sumReasons = (s) => s.values_not_used_as_keys.reduce((n, r) => n + r.count, 0);

function lines(l) {
  const listed = l.lines.slice(0, 12).map(number).join(", ");
  return l.count > 12 ? `${listed}, …` : listed;
}

function keysOf(a) {
  const keys = [...a.domains.map((d) => `domain ${d}`), ...a.duns.map((d) => `DUNS ${d}`)];
  if (a.name_country) keys.push(`name ${a.name_country}${a.common_name ? " (a common name)" : ""}`);
  if (a.postal_code) keys.push(`postal code ${a.postal_code}`);
  if (a.phone) keys.push(`phone ${a.phone}`);
  return keys.length ? keys.join("; ") : "none: left out";
}

$("file").addEventListener("change", startImport);
$("preset").addEventListener("change", startImport);
$("mapping").addEventListener("change", async () => {
  const file = $("mapping").files[0];
  mappingText = file ? await file.text() : null;
  if (mappingText !== null) $("preset").value = "auto";
  startImport();
});
$("mapping-clear").addEventListener("click", () => {
  $("mapping").value = "";
  mappingText = null;
  startImport();
});

const drop = $("drop");
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  const files = event.dataTransfer?.files;
  if (!files || !files.length) return;
  $("file").files = files;
  startImport();
});

// ---------------------------------------------------------------------------------------------
// What the partner shares (spec §20.6): a level per segment of its own, against every segment of
// the vendor's — the levels of `blindmap match --remote --shares` — sent after the match.

const LEVELS = [
  ["hidden", "Nothing"],
  ["counts", "How many overlap"],
  ["overlaps", "Which accounts overlap"],
  ["fields", "Which overlap, with fields"],
];
/** As `blindmap match --remote`: counts unless the partner chooses otherwise. */
const DEFAULT_LEVEL = "counts";

/** The choice as the page holds it, by segment: {level, fields}. */
function sharingChoice() {
  const choice = {};
  for (const select of document.querySelectorAll("#sharing-table select")) {
    const boxes = document.querySelectorAll(`#${select.id.replace("level", "fields")} input:checked`);
    choice[select.dataset.segment] = { level: select.value, fields: [...boxes].map((b) => b.value) };
  }
  return choice;
}

function renderSharing(preview) {
  const previous = sharingChoice();
  const fields = preview.fields || [];
  const rows = preview.summary.segments.map(([label, accounts], i) => {
    const before = previous[label] || { level: DEFAULT_LEVEL, fields: [] };
    const select = h(
      "select",
      { id: `share-level-${i}`, "data-segment": label, "aria-label": `What you share of ${label}` },
      LEVELS.map(([value, text]) => h("option", { value, disabled: value === "fields" && !fields.length }, text)),
    );
    select.value = before.level === "fields" && !fields.length ? DEFAULT_LEVEL : before.level;
    const boxes = h(
      "fieldset",
      { class: "fields", id: `share-fields-${i}` },
      h("legend", {}, `Fields of your ${label} accounts`),
      fields.map((f, j) =>
        h("label", { class: "check", for: `share-field-${i}-${j}` }, h("input", { type: "checkbox", id: `share-field-${i}-${j}`, value: f, checked: before.fields.includes(f) }), words(f)),
      ),
    );
    const row = h(
      "tr",
      { "data-accounts": accounts },
      h("th", { scope: "row" }, label),
      h("td", { class: "num" }, number(accounts)),
      h("td", {}, select, boxes),
      h("td", { id: `share-learns-${i}` }),
    );
    return row;
  });
  $("sharing-table").tBodies[0].replaceChildren(...rows);
  describeSharing();
}

/** What the vendor learns of each segment, in words, as the choice stands; and whether it reads. */
function describeSharing() {
  const vendor = state.invitation?.vendor ?? "the vendor";
  const k = threshold();
  let problem = null;
  document.querySelectorAll("#sharing-table select").forEach((select, i) => {
    const boxes = $(`share-fields-${i}`);
    show(boxes, select.value === "fields");
    const chosen = [...boxes.querySelectorAll("input:checked")].map((b) => words(b.value));
    const accounts = Number(select.closest("tr").dataset.accounts);
    const text = {
      hidden: "Nothing of these accounts.",
      counts: `How many of your ${number(accounts)} overlap each of its segments${k > 1 ? `; a count below ${k} shows as “fewer than ${k}”` : ""}.`,
      overlaps: `Which of its own accounts overlap these. ${vendor} never sees your names, domains or record ids.`,
      fields: chosen.length
        ? `Which of its own accounts overlap these, with your ${chosen.join(", ")} of each.`
        : "Choose at least one field, or another level.",
    }[select.value];
    if (select.value === "fields" && !chosen.length) problem ??= `Choose the fields you share of ${select.dataset.segment}, or another level.`;
    $(`share-learns-${i}`).textContent = text;
  });
  if (!problem && !Number.isInteger(k)) problem = "The threshold for counts is a whole number from 1 to 1,000.";
  $("sharing-error").textContent = problem || "";
  show($("sharing-error"), Boolean(problem));
  return problem;
}

function threshold() {
  const k = Number($("threshold").value);
  return Number.isInteger(k) && k >= 1 && k <= 1000 ? k : NaN;
}

/** The choice as the worker takes it (crates/blindmap-wasm/src/shares.rs), or null if it does not read. */
function sharesOf() {
  if (describeSharing()) return null;
  const segments = {};
  for (const [label, c] of Object.entries(sharingChoice())) {
    segments[label] = c.level === "fields" ? { fields: c.fields } : c.level;
  }
  return { default: "hidden", segments, threshold: threshold() };
}

$("sharing").addEventListener("change", describeSharing);
$("threshold").addEventListener("input", describeSharing);

// ---------------------------------------------------------------------------------------------
// The match

const PHASES = {
  connecting: "Connecting to the vendor's node…",
  waiting: "Waiting for the vendor's node…",
  matching: "Matching",
  finishing: "Finishing…",
};

function startMatch() {
  const shares = sharesOf();
  if (!shares) return $("sharing-error").scrollIntoView({ block: "nearest" });
  show($("match-error"), false);
  show($("step-results"), false);
  $("match").disabled = true;
  show($("cancel"));
  $("match-progress").removeAttribute("value");
  show($("match-progress"));
  $("match-text").textContent = PHASES.connecting;
  worker.postMessage({ type: "match", node: state.node, invitation: state.secret, shares });
}

function matchProgress(p) {
  const bar = $("match-progress");
  if (p.phase === "matching" && p.total > 0) {
    bar.max = p.total;
    bar.value = p.done;
    $("match-text").textContent = `Matching: ${Math.floor((100 * p.done) / p.total)}% (${bytes(p.bytesSent)} sent, ${bytes(p.bytesReceived)} received)`;
  } else {
    bar.removeAttribute("value");
    $("match-text").textContent = PHASES[p.phase] || "";
  }
}

function matchEnded() {
  show($("match-progress"), false);
  show($("cancel"), false);
  $("match").disabled = false;
}

function matchError(e) {
  matchEnded();
  $("match-text").textContent = "";
  const what = {
    server: "The vendor's node refused the match",
    protocol: "The match failed",
    connection: "The connection was lost",
    state: "The match stopped",
  }[e.kind] || "The match failed";
  $("match-error-text").textContent = `${what}: ${e.message}.${e.retry ? " Your file is still read: you can try again." : ""}`;
  show($("retry"), Boolean(e.retry));
  show($("match-error"));
}

function results(r) {
  matchEnded();
  state.results = r.results;
  state.csv = r.csv;
  $("match-text").textContent = `Done: ${bytes(r.bytesSent)} sent, ${bytes(r.bytesReceived)} received${r.run ? ` (run ${r.run})` : ""}.`;
  const res = r.results;
  const vendor = state.invitation?.vendor ?? "the vendor";
  $("results-summary").textContent =
    res.pairs === 0
      ? `None of your accounts overlap ${vendor}'s in what they share with you.`
      : `${plural(res.accounts, "of your accounts overlaps", "of your accounts overlap")} ${vendor}'s, in ${plural(res.pairs, "pair", "pairs")}.`;
  const parts = [];
  const shared = res.shared_with_them;
  if (shared) parts.push(h("p", { id: "shared-summary" }, sharedText(shared, vendor)));
  if (r.fieldsError) parts.push(h("p", { class: "error", id: "fields-error" }, `${vendor}'s fields are left out: ${r.fieldsError}. Your results are complete without them.`));
  if (!r.confirmed) parts.push(h("p", { class: "notice" }, `${vendor}'s node did not confirm the end of the run: your results are complete, but it may not have recorded the run.`));
  if (res.incomplete) parts.push(h("p", { class: "error" }, "The results are incomplete: the vendor's node answered far more matches than any real list has, and this page kept only the first."));
  const m = res.matrix;
  if (m.rows.length && m.columns.length) {
    parts.push(
      table(
        "matrix",
        `Your segments (rows) × ${vendor}'s (columns): overlapping accounts`,
        ["Your segment", ...m.columns.map((c) => `${c.segment} (${number(c.records)})`)],
        m.rows.map((row, i) => [row, ...m.cells[i].map(cellText)]),
        m.columns.map((_, i) => i + 1),
        true,
      ),
    );
  }
  if (res.overlaps.length) {
    const listed = res.overlaps.slice(0, LISTED);
    const theirs = res.overlaps.some((o) => o.partner_fields.length);
    const fieldsOf = (o) => o.partner_fields.map(([n, v]) => `${words(n)}: ${v ?? "—"}`).join("; ");
    parts.push(
      table(
        "overlaps",
        listed.length < res.overlaps.length ? `The first ${LISTED} of ${number(res.overlaps.length)} overlaps (the CSV has them all)` : "The overlapping accounts",
        ["Account", "Your segment", "Their segment", ...(theirs ? [`${vendor}'s fields`] : []), "Match", "Why", "Matched on"],
        listed.map((o) => [
          `${o.name ?? o.account_id}${o.name ? ` (${o.account_id})` : ""}`,
          o.own_segment,
          o.partner_segment,
          ...(theirs ? [fieldsOf(o)] : []),
          o.tier,
          o.reason,
          o.key_types.join(", "),
        ]),
      ),
    );
  }
  $("results").replaceChildren(...parts);
  $("download").disabled = res.overlaps.length === 0;
  show($("step-results"));
  $("h-results").focus();
}

/** What the partner revealed after the match (spec §20.6) and what came back (§20.7), in words. */
function sharedText(shared, vendor) {
  if (shared.in_words === "nothing") return `You shared nothing with ${vendor}: it learned only your segments' names and sizes.`;
  const learned = [];
  if (shared.accounts) {
    learned.push(
      `which of its accounts overlap ${plural(shared.accounts, "account", "accounts")} of yours` +
        (shared.with_fields ? ` (${number(shared.with_fields)} with the fields you chose)` : ""),
    );
  }
  if (shared.counts) learned.push(plural(shared.counts, "count of overlapping accounts", "counts of overlapping accounts"));
  const what = learned.length ? learned.join(", and ") : "nothing it could use: none of what you shared overlaps";
  const back = shared.returned ? ` In return it showed you its fields for ${plural(shared.returned, "account", "accounts")}: they are in the list below and in the CSV.` : "";
  return `You shared ${shared.in_words} with ${vendor}: it learned ${what}.${back}`;
}

function cellText(c) {
  if (c.count != null && c.possible) return `${number(c.count - c.possible)} (+${number(c.possible)} possible)`;
  if (c.count != null) return number(c.count);
  if (c.level === "hidden") return "not shared";
  return c.shown;
}

function download() {
  if (!state.csv) return;
  const vendor = (state.invitation?.vendor ?? "vendor").replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "");
  const date = new Date().toISOString().slice(0, 10);
  const a = h("a", { href: URL.createObjectURL(new Blob([state.csv], { type: "text/csv;charset=utf-8" })), download: `overlaps-${vendor || "vendor"}-${date}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

$("match").addEventListener("click", startMatch);
$("retry").addEventListener("click", startMatch);
$("cancel").addEventListener("click", () => worker.postMessage({ type: "cancel" }));
$("download").addEventListener("click", download);

// ---------------------------------------------------------------------------------------------
// What runs: the build and how to check it

function showIntegrity() {
  const build = meta("build");
  const p = $("integrity");
  if (single) {
    p.append(
      "This is the page saved as one file (build ",
      h("code", {}, build),
      "). Check it before you trust it: ",
      h("code", {}, "sha256sum blindmap-partner.html"),
      " must print the SHA-256 the blindmap release publishes for this version, which the vendor's page shows too.",
    );
  } else {
    const sha = meta("single-file-sha256");
    p.append(
      "This page's code (build ",
      h("code", {}, build),
      ") is named by its hashes and checked by your browser. Rather run it from your own disk? Save ",
      h("a", { href: "/join/blindmap-partner.html", download: "blindmap-partner.html" }, "blindmap-partner.html"),
      ", check that its SHA-256 is ",
      h("code", {}, sha),
      " (the one the blindmap release publishes), and open it: it asks for this link.",
    );
  }
}

showIntegrity();
const ready = startWorker().catch((e) => fatal(e.message));
startInvitation();
