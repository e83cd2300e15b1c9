#!/usr/bin/env bash
# Rebuilds the WebAssembly examples with Debian's toolchains (apt: rustc libstd-rust-dev-wasm32 clang lld
# wasi-libc libclang-rt-14-dev-wasm32). /usr/bin/rustc is named on purpose: a rustup rustc earlier on PATH
# usually has no wasm32-wasi target. Debian's rustc 1.63 calls the target wasm32-wasi (newer ones: wasm32-wasip1).
set -euo pipefail
cd "$(dirname "$0")"
RUSTC="${RUSTC:-/usr/bin/rustc}"
RUST=("$RUSTC" --target wasm32-wasi -O -C lto=yes -C strip=symbols -C panic=abort)
CC=(clang --target=wasm32-wasi --sysroot=/usr -O2 -s)

"${RUST[@]}" echo/src/main.rs -o echo/echo.wasm            # the talk's echo
"${RUST[@]}" kv/src/main.rs -o kv/kv.wasm                  # visit counter on KV (Rust, nex.rs)
"${CC[@]}" kv-c/main.c -o kv-c/kv-c.wasm                   # the same in C (nex.h)
ls -l echo/echo.wasm kv/kv.wasm kv-c/kv-c.wasm
