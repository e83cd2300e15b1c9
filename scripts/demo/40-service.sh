# The talk's third flow: a long-running service, the Go echo service as a static binary.
say "build the Go echo service (a static binary; Debian's nats.go has the early micro API, see examples/go/echo)"
run "$ROOT/examples/go/build.sh" "$DEMO_DIR/echo"
say "run it as a native service (sandboxed with bubblewrap when the node has it)"
run nex devrun "$DEMO_DIR/echo" --name echo-svc
# The service connects to NATS a moment after the deploy returns; give it a few tries.
for _ in $(seq 1 25); do nex req svc.echo ping >/dev/null 2>&1 && break; sleep 0.2; done
say "call it"
run nex req svc.echo 'can you repeat?'
say "it is a NATS micro service, so \$SRV discovery finds it"
run nex req '$SRV.PING.EchoService' ''
