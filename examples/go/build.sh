#!/usr/bin/env bash
# Builds the Go echo service as a static binary with Debian's golang-go and golang-github-nats-io-go-nats-dev.
# GOPATH mode: Debian installs nats.go as source under /usr/share/gocode, which module mode cannot use offline.
# Usage: examples/go/build.sh [OUTPUT]   (default: examples/go/echo/echo)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/echo/echo}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
gopath="${NEX_GOPATH:-/usr/share/gocode}"
if ! command -v go >/dev/null; then
  echo "go is not installed: apt-get install golang-go golang-github-nats-io-go-nats-dev" >&2
  exit 1
fi
if [ ! -d "$gopath/src/github.com/nats-io/nats.go/micro" ]; then
  echo "nats.go with micro is not in $gopath: apt-get install golang-github-nats-io-go-nats-dev" >&2
  exit 1
fi
cache="${GOCACHE:-$(mktemp -d)}"
cleanup() { [ -n "${GOCACHE:-}" ] || rm -rf "$cache"; }
trap cleanup EXIT
cd "$here/echo"
GO111MODULE=off GOPATH="$gopath" GOFLAGS= GOCACHE="$cache" CGO_ENABLED=0 \
  go build -tags netgo -ldflags '-s -w -extldflags "-static"' -o "$out" .
echo "$out"
