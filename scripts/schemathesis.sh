#!/usr/bin/env bash
# The API contract test: schemathesis (4.x, from PyPI) against a real node on loopback, every
# check on every operation of the served /api/v1/openapi.json, failing on any finding.
#
# Starts two nodes from the debug binary the test step built (a vendor's, which is tested, and a
# partner's, so that pairing, runs, co-sell and registrations have something real), seeds them
# through the API, and runs schemathesis with the vendor admin's token. What schemathesis may
# make of statuses beyond the schema is in scripts/schemathesis.toml, with the reasons.
#
# Environment: BLINDMAP_BIN (default target/debug/blindmap, built if missing),
# BLINDMAP_SCHEMATHESIS_VENV (default ~/.cache/blindmap/schemathesis-VERSION, made if missing),
# BLINDMAP_SCHEMATHESIS_EXAMPLES (per operation, default 25), BLINDMAP_SCHEMATHESIS_SEED (default:
# 1 under CI, so that CI judges a change and not a new draw; random elsewhere, printed, so that
# runs by hand keep looking further), BLINDMAP_SCHEMATHESIS_SECONDS (schemathesis's time budget, default 120: it
# shares it among its phases, so a loaded machine tests less rather than failing),
# BLINDMAP_SCHEMATHESIS_DATABASE_URL (a PostgreSQL URL for the tested node's store, e.g. the one
# scripts/with-postgres.sh exports; default: SQLite in its data folder),
# BLINDMAP_SCHEMATHESIS_ARGS (more arguments for `schemathesis run`, e.g. `--include-path-regex
# registrations` while debugging).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

version=4.32.5
venv=${BLINDMAP_SCHEMATHESIS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/blindmap/schemathesis-$version}
examples=${BLINDMAP_SCHEMATHESIS_EXAMPLES:-25}
seconds=${BLINDMAP_SCHEMATHESIS_SECONDS:-120}
if [ "${CI:-}" = true ]; then default_seed=1; else default_seed=$((RANDOM * 32768 + RANDOM)); fi
seed=${BLINDMAP_SCHEMATHESIS_SEED:-$default_seed}
bin=${BLINDMAP_BIN:-$repo/target/debug/blindmap}

# schemathesis in its own venv, installed from PyPI once and kept; Python 3 and its venv module
# from Debian where missing (as root).
make_venv() { rm -rf "$venv" && mkdir -p "$(dirname "$venv")" && python3 -m venv "$venv"; }
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $version"; then
  echo "installing schemathesis $version from PyPI into $venv"
  if ! { command -v python3 >/dev/null 2>&1 && make_venv >/dev/null 2>&1; }; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing python3 and python3-venv (Debian)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null; }
    fi
    make_venv
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input "schemathesis==$version"
fi

if [ ! -x "$bin" ]; then
  cargo build --locked --bin blindmap
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A node on a free loopback port; its URL and admin token in $work/NAME.url and $work/NAME.token.
node() {
  local name=$1 organisation=$2 database=()
  if [ "$name" = vendor ] && [ -n "${BLINDMAP_SCHEMATHESIS_DATABASE_URL:-}" ]; then
    database=(--database "$BLINDMAP_SCHEMATHESIS_DATABASE_URL")
  fi
  "$bin" init --data-dir "$work/$name" --organisation "$organisation" --listen 127.0.0.1:0 "${database[@]}" \
    >"$work/$name.init"
  # Schemathesis sends thousands of requests with one token in a couple of minutes: no rate
  # limits here (their 429 is documented on every route; crates/blindmap-server/tests/it/limits.rs holds the node to it).
  # The seed's webhook endpoint is on loopback over http: allowed here as an operator would.
  BLINDMAP_LOG=warn BLINDMAP_WEBHOOK_ALLOW_HTTP=true BLINDMAP_WEBHOOK_ALLOW=127.0.0.1 \
    BLINDMAP_RATE_LIMIT_PER_CREDENTIAL=0 BLINDMAP_RATE_LIMIT_PER_ORGANISATION=0 \
    "$bin" serve --data-dir "$work/$name" >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 1 300); do
    if grep -q '^listening on https://' "$work/$name.out" 2>/dev/null; then
      grep -o 'https://[0-9.:]*' "$work/$name.out" | head -n 1 >"$work/$name.url"
      sed -n 's/^  \(bm_[0-9a-f]*\)$/\1/p' "$work/$name.init" >"$work/$name.token"
      return
    fi
    sleep 0.1
  done
  echo "the $name node did not start:" >&2
  cat "$work/$name.log" >&2
  exit 1
}

node vendor Vendor
node partner Partner
vendor_url=$(cat "$work/vendor.url") vendor_token=$(cat "$work/vendor.token")
partner_url=$(cat "$work/partner.url") partner_token=$(cat "$work/partner.token")

# Something for the routes to find: datasets on both sides, a partnership, two complete runs,
# a co-sell record, a correction, a registration the vendor received, touches and a close, a webhook endpoint,
# an inbound source, a CRM connection, and a spare user whose token DELETE /api/v1/tokens/{id} may revoke.
VENDOR_URL=$vendor_url VENDOR_TOKEN=$vendor_token PARTNER_URL=$partner_url PARTNER_TOKEN=$partner_token \
  SAMPLES=$repo/samples "$venv/bin/python" - >"$work/seeded" <<'PY'
import os, sys, time, warnings
import requests

warnings.filterwarnings("ignore")  # the nodes' certificates are self-signed; this is loopback

def client(url, token):
    def call(method, path, json=None, data=None, headers=None):
        headers = {"Authorization": f"Bearer {token}", **(headers or {})}
        r = requests.request(method, url + path, json=json, data=data, headers=headers, verify=False, timeout=60)
        if r.status_code >= 300:
            sys.exit(f"seeding: {method} {path} answered {r.status_code}: {r.text}")
        return r.json() if r.content else None
    return call

vendor = client(os.environ["VENDOR_URL"], os.environ["VENDOR_TOKEN"])
partner = client(os.environ["PARTNER_URL"], os.environ["PARTNER_TOKEN"])
csv = {"Content-Type": "text/csv"}
with open(os.path.join(os.environ["SAMPLES"], "vendor-salesforce.csv"), "rb") as f:
    vendor("POST", "/api/v1/datasets?name=vendor-salesforce.csv", data=f.read(), headers=csv)
with open(os.path.join(os.environ["SAMPLES"], "partner-hubspot.csv"), "rb") as f:
    partner("POST", "/api/v1/datasets?name=partner-hubspot.csv", data=f.read(), headers=csv)

code = vendor("POST", "/api/v1/partnerships/invites")["code"]
partner_side = partner("POST", "/api/v1/partnerships", json={"code": code})["id"]
vendor_side = vendor("GET", "/api/v1/partnerships")["items"][0]["id"]
vendor("PUT", f"/api/v1/partnerships/{vendor_side}/sharing", json={
    "rules": [{"own_segment": "*", "partner_segment": "*", "level": "fields", "fields": ["owner", "industry"]}],
    "threshold": 1, "min_partner_segment": 1})
partner("PUT", f"/api/v1/partnerships/{partner_side}/sharing", json={
    "rules": [{"own_segment": "*", "partner_segment": "*", "level": "overlaps"}],
    "threshold": 1, "min_partner_segment": 1})

for _ in range(2):
    run = vendor("POST", "/api/v1/runs", json={"partnership": vendor_side, "transcript": True})["id"]
    for _ in range(600):
        state = vendor("GET", f"/api/v1/runs/{run}")["state"]
        if state != "running":
            break
        time.sleep(0.1)
    if state != "complete":
        sys.exit(f"seeding: the run is {state}")

overlaps = vendor("GET", f"/api/v1/runs/{run}/overlaps?limit=2")["items"]
overlap = overlaps[0]
vendor("POST", "/api/v1/cosell", json={"run": run, "account_id": overlap["account_id"],
    "partner_segment": overlap["partner_segment"], "partner_record": overlap["partner_record"]})
vendor("POST", "/api/v1/corrections", json={"partnership": vendor_side, "account_id": overlaps[1]["account_id"],
    "kind": "not_this_match", "key_types": overlaps[1]["key_types"], "note": "seeded"})
partner("POST", "/api/v1/registrations", json={"partnership": partner_side,
    "customer": {"name": "Litware Inc", "country": "US", "domains": ["litware.com"]},
    "products": ["cloud"], "value": "25000", "currency": "USD", "expected_close": "2027-06-30"})
vendor("POST", "/api/v1/attribution/touches",
    json={"opportunity": "OPP-1", "partner": "Partner", "kind": "sourced", "at": "2026-11-02"})
vendor("POST", "/api/v1/attribution/opportunities/OPP-1/close",
    json={"amount": "120000.00", "currency": "EUR", "closed_at": "2026-11-20"})
vendor("POST", "/api/v1/attribution/sources", json={"name": "Partner PRM"})
vendor("POST", "/api/v1/hooks", json={"url": "http://127.0.0.1:9/blindmap", "events": ["overlap.changed"]})
# A CRM connection (HubSpot's own API, which this machine cannot reach: a sync fails, and says so).
vendor("POST", "/api/v1/connections", json={"name": "Seed HubSpot", "kind": "hubspot", "token": "pat-seed"})
spare = vendor("POST", "/api/v1/users", json={"name": "spare", "role": "rep"})["token"]["id"]
print(spare)
PY
spare_token=$(cat "$work/seeded")

echo "schemathesis $version against $vendor_url: $examples examples per operation, seed $seed, ${seconds}s"
status=0
(
  cd "$work"
  # The budget bounds the run; `timeout` only guards against a run that hangs past it.
  BLINDMAP_CONTRACT_SPARE_TOKEN=$spare_token timeout --signal=INT --kill-after=10 $((seconds + 120)) \
    "$venv/bin/schemathesis" --config-file "$repo/scripts/schemathesis.toml" run "$vendor_url/api/v1/openapi.json" \
    --checks all --tls-verify false -H "Authorization: Bearer $vendor_token" \
    --max-examples "$examples" --max-time "$seconds" --seed "$seed" --no-color ${BLINDMAP_SCHEMATHESIS_ARGS:-}
) || status=$?
if [ "$status" = 124 ] || [ "$status" = 130 ]; then
  echo "schemathesis did not finish within $((seconds + 120))s (seed $seed)" >&2
fi
if [ "$status" != 0 ]; then
  echo "the API contract test failed (seed $seed; BLINDMAP_SCHEMATHESIS_SEED=$seed reruns it); the vendor node's log:" >&2
  tail -n 50 "$work/vendor.log" >&2
  exit 1
fi
