# The talk's host services flow: telemetry.js (KV, object store, an HTTP webhook) and jokes.js (KV), unchanged.
say "start a tiny local webhook (standing in for https://webhooks.app/data) that records what it receives"
node -e '
  const fs = require("fs"), dir = process.argv[1];
  const s = require("http").createServer((req, res) => {
    let body = ""; req.on("data", (c) => (body += c));
    req.on("end", () => { fs.appendFileSync(dir + "/webhook.log", req.method + " " + req.url + " " + body + "\n"); res.end("received"); });
  });
  s.listen(0, "127.0.0.1", () => fs.writeFileSync(dir + "/webhook.port", String(s.address().port)));
' "$DEMO_DIR" &
echo $! >"$DEMO_DIR/webhook.pid"
for _ in $(seq 1 50); do [ -s "$DEMO_DIR/webhook.port" ] && break; sleep 0.1; done
WEBHOOK="http://127.0.0.1:$(cat "$DEMO_DIR/webhook.port")/data"
echo "webhook at $WEBHOOK"

say "seed the jokes into KV (nex kv put creates the bucket)"
run nex kv put dad_jokes jokes "@$ROOT/examples/js/jokes.json"

say "deploy the talk's telemetry.js, with only its webhook URL pointed at the local server"
sed "s#https://webhooks.app/data#$WEBHOOK#" "$ROOT/examples/js/telemetry.js" >"$DEMO_DIR/telemetry.js"
diff "$ROOT/examples/js/telemetry.js" "$DEMO_DIR/telemetry.js" || true
run nex devrun "$DEMO_DIR/telemetry.js" --trigger_subject=telemetry --type v8
say "deploy the talk's jokes.js"
cat "$ROOT/examples/js/jokes.js"
run nex devrun "$ROOT/examples/js/jokes.js" --trigger_subject=jokes --type v8

say "a reading above 30 °C: stored in KV and the object store, and the webhook is called"
run nex req telemetry '{"deviceId":"sensor-7","temperature":34.2}'
say "a reading below 30 °C: stored, no webhook call (http_alert is null)"
run nex req telemetry '{"deviceId":"sensor-7","temperature":22.5}'

say "the KV entry (the latest reading), the stored history and what the webhook received"
run nex kv get iot_devices sensor-7
run nex obj ls iot_history
cat "$DEMO_DIR/webhook.log"

say "a dad joke from KV"
run nex req jokes
