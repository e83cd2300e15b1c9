#!/usr/bin/env bash
# Sets up everything a fresh machine needs, starts NATS and a node (`nex up`), and walks through the talk's
# flows: a JavaScript function, host services, a WebAssembly function and a long-running service.
# Usage: bash scripts/demo.sh        (Debian/Ubuntu; installs missing packages with apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

say() { printf '\n\033[1;36m▶ %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

# --- setup -------------------------------------------------------------------------------------------
need_apt=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need_apt+=(nats-server)
command -v bwrap >/dev/null 2>&1 || need_apt+=(bubblewrap)
[ -x /usr/bin/rustc ] || need_apt+=(rustc libstd-rust-dev-wasm32)
command -v go >/dev/null 2>&1 || need_apt+=(golang-go golang-github-nats-io-go-nats-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  say "installing ${need_apt[*]}"
  $SUDO apt-get update -q && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi
if [ ! -d node_modules ]; then say "npm ci"; npm ci --no-audit --no-fund; fi
say "building"; npm run -s build

# --- NATS and a node ---------------------------------------------------------------------------------
DEMO_DIR=$(mktemp -d -t nex-demo-XXXXXX)
PORT=${NEX_DEMO_PORT:-$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')}
export NATS_URL="nats://127.0.0.1:$PORT"
nex() { node "$ROOT/bin/nex.mjs" "$@"; }
UP_PID=""
cleanup() {
  if [ -n "$UP_PID" ]; then kill -INT "$UP_PID" 2>/dev/null || true; wait "$UP_PID" 2>/dev/null || true; fi
  for f in "$DEMO_DIR"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  rm -rf "$DEMO_DIR"
}
trap cleanup EXIT

say "nex up: no NATS answers at $NATS_URL, so it starts nats-server (JetStream) and a node"
# The host-services step's webhook stands in for a public server on loopback, which functions reach only when allowed.
node "$ROOT/bin/nex.mjs" up --data-dir "$DEMO_DIR/home" --allow-egress 127.0.0.1 >"$DEMO_DIR/up.log" 2>&1 &
UP_PID=$!
for _ in $(seq 1 100); do grep -q "is up" "$DEMO_DIR/up.log" 2>/dev/null && break; sleep 0.2; done
cat "$DEMO_DIR/up.log"
run nex node ls

# --- the talk's flows, one fragment each ----------------------------------------------------------------
for part in "$ROOT"/scripts/demo/*.sh; do
  # shellcheck source=/dev/null
  source "$part"
done

say "what ran"
run nex ls
run nex events --since 10m | tail -n 12
say "done: Ctrl-C is what stops 'nex up'; the demo does it for you now"
