#!/usr/bin/env bash
# Builds the partner page (spec §20; sources in partner-page/, the WebAssembly from
# crates/blindmap-wasm) into target/partner-page/ (or $PARTNER_PAGE_OUT): index.html (the node's
# /join), its assets named by their hashes, manifest.json (each file's SRI and content type), and
# the single-file page blindmap-partner.html with its .sha256. Prints the sizes and the SHA-256.
#
# Installs what is missing: Debian's Rust with its standard library's source, rust-lld and a C
# compiler for wasm32 (as root), Node for the assembly, and wasm-bindgen-cli of the version
# Cargo.lock holds (cargo install into ~/.cache/blindmap). rustup here has no wasm32 target, so the
# standard library is built from Debian's source (`-Z build-std`, RUSTC_BOOTSTRAP=1).
#
# Reproducible: paths are remapped (the checkout to /blindmap, CARGO_HOME to /cargo), so a build
# in another folder or on another machine with the same packages gives the same bytes.
#
# Cold (tools installed, nothing built): ~3 min for the WebAssembly; installing wasm-bindgen-cli
# ~2 min more, once. Warm (nothing changed): seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${PARTNER_PAGE_OUT:-$root/target/partner-page}
step() { printf '==> %s\n' "$*" >&2; }

# 1. Debian packages: rustc-web (Rust 1.96) with cargo-web and rust-web-src (std's source for
# build-std); rust-web-llvm gives /usr/bin/rust-lld, a link to lld-22, which it does not pull in;
# clang-19 and llvm-19 (llvm-ar) compile ring's C for wasm32. Node assembles the page.
packages=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22 clang-19 llvm-19)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "missing Debian packages: ${missing[*]} (as root: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  step "installing ${missing[*]} (Debian)"
  # A fresh machine may have no package lists yet.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi

# 2. wasm-bindgen-cli: exactly the wasm-bindgen crate's version in Cargo.lock (the glue and the
# module must agree). Not --locked: one of its locked dependencies is gone from the index.
# --debug: unoptimised, it builds in half the time (66 s here, against about two minutes) and writes the
# same bytes (checked: the glue and the module hash alike); it takes a second instead of half.
wbg_version=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$wbg_version" ] || { echo "no wasm-bindgen in Cargo.lock" >&2; exit 1; }
wbg_root=${XDG_CACHE_HOME:-$HOME/.cache}/blindmap/wasm-bindgen-$wbg_version
wbg=$wbg_root/bin/wasm-bindgen
if ! "$wbg" --version 2>/dev/null | grep -qx "wasm-bindgen $wbg_version"; then
  step "installing wasm-bindgen-cli $wbg_version into $wbg_root (cargo install --debug, about a minute)"
  rm -rf "$wbg_root"
  if command -v cargo >/dev/null 2>&1; then
    cargo install --quiet --debug --root "$wbg_root" wasm-bindgen-cli --version "=$wbg_version"
  else
    RUSTC=/usr/bin/rustc /usr/bin/cargo install --quiet --debug --root "$wbg_root" wasm-bindgen-cli --version "=$wbg_version"
  fi
fi

# 3. The WebAssembly, with Debian's toolchain (/usr/bin/cargo: rustup's comes first on PATH).
step "building crates/blindmap-wasm for wasm32-unknown-unknown (profile wasm)"
cargo_home=${CARGO_HOME:-$HOME/.cargo}
sep=$'\x1f'
export CARGO_ENCODED_RUSTFLAGS="--remap-path-prefix=$root=/blindmap${sep}--remap-path-prefix=$cargo_home=/cargo"
export CFLAGS_wasm32_unknown_unknown="-ffile-prefix-map=$root=/blindmap -ffile-prefix-map=$cargo_home=/cargo"
export CC_wasm32_unknown_unknown=clang-19 AR_wasm32_unknown_unknown=llvm-ar-19
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=$root/target/wasm CARGO_INCREMENTAL=0
/usr/bin/cargo build --locked --quiet -Z build-std=std,panic_abort --target wasm32-unknown-unknown --profile wasm \
  -p blindmap-wasm --lib
built=$root/target/wasm/wasm32-unknown-unknown/wasm/blindmap_wasm.wasm

# 4. The JavaScript glue: a classic script defining `wasm_bindgen`, which the worker bundle and
# the single file's Blob worker both start with.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
step "wasm-bindgen $wbg_version --target no-modules"
"$wbg" --target no-modules --no-typescript --remove-name-section --remove-producers-section \
  --omit-default-module-path --out-dir "$tmp" "$built"

# 5. The page.
step "assembling $out"
node partner-page/assemble.mjs --wasm "$tmp/blindmap_wasm_bg.wasm" --glue "$tmp/blindmap_wasm.js" --out "$out"
