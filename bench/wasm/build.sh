#!/usr/bin/env bash
# Rebuilds the benchmark's WASM KV function with Debian's clang, lld and wasi-libc (as examples/wasm/build.sh does).
set -euo pipefail
cd "$(dirname "$0")"
clang --target=wasm32-wasi --sysroot=/usr -O2 -s kvget.c -o kvget.wasm
ls -l kvget.wasm
