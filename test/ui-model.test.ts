/** The dashboard's model without a browser or a server: rates from polls, grouping, bounded buffers, formats. */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { WorkloadSummary } from "../src/contract/index.js";
import { dashboardPermissions } from "../src/auth/permissions.js";
import { Rates, Ring, eventSummary, fmtRate, fmtUptime, groupWorkloads, rate } from "../src/ui/model.js";
import { isLoopback } from "../src/ui/index.js";

function w(over: Partial<WorkloadSummary>): WorkloadSummary {
  return {
    id: "W1",
    name: "echo",
    namespace: "default",
    type: "v8",
    nodeId: "N1",
    state: "running",
    lifecycle: "function",
    triggers: ["echo"],
    location: "nats://NEX_ARTIFACTS/default/echo.js",
    startedAt: "2025-01-01T00:00:00.000Z",
    invocations: 0,
    failures: 0,
    restarts: 0,
    ...over,
  };
}

test("ui model - rates come from the difference of two polls", () => {
  const r = new Rates();
  const first = r.update(1_000, [w({ invocations: 10, failures: 1 })]);
  assert.equal(first[0]!.callsPerSec, undefined, "one poll gives no rate");
  const second = r.update(3_000, [w({ invocations: 30, failures: 2 })]);
  assert.equal(second[0]!.callsPerSec, 10);
  assert.equal(second[0]!.errorsPerSec, 0.5);
});

test("ui model - no rate across a restart or a counter that went back", () => {
  const r = new Rates();
  r.update(0, [w({ invocations: 50 })]);
  assert.equal(r.update(1_000, [w({ invocations: 5 })])[0]!.callsPerSec, undefined);
  assert.equal(r.update(2_000, [w({ invocations: 9, startedAt: "2025-01-01T00:01:00.000Z" })])[0]!.callsPerSec, undefined, "a new start");
  assert.equal(r.update(3_000, [w({ invocations: 11, startedAt: "2025-01-01T00:01:00.000Z" })])[0]!.callsPerSec, 2);
  assert.equal(rate(1, 2, 0), undefined);
});

test("ui model - instances of one name are summed, the slowest latency and the newest error shown", () => {
  const r = new Rates();
  const later = "2025-01-01T00:05:00.000Z";
  r.update(0, [w({ id: "A", invocations: 0 }), w({ id: "B", nodeId: "N2", invocations: 0, startedAt: later }), w({ id: "C", name: "jokes", triggers: ["joke"] })]);
  const rows = r.update(1_000, [
    w({ id: "A", invocations: 4, failures: 1, latencyMs: { p50: 0.4, p99: 2 }, lastError: "old" }),
    w({ id: "B", nodeId: "N2", invocations: 6, latencyMs: { p50: 0.6, p99: 1.5 }, state: "starting", lastError: "new", triggers: ["echo", "echo.v2"], startedAt: later }),
    w({ id: "C", name: "jokes", triggers: ["joke"] }),
  ]);
  const [echo, jokes] = groupWorkloads(rows);
  assert.equal(echo!.name, "echo");
  assert.equal(echo!.instances.length, 2);
  assert.equal(echo!.invocations, 10);
  assert.equal(echo!.callsPerSec, 10);
  assert.equal(echo!.errorsPerSec, 1);
  assert.deepEqual(echo!.latencyMs, { p50: 0.6, p99: 2 });
  assert.equal(echo!.state, "mixed");
  assert.equal(echo!.lastError, "new", "the newest instance's error");
  assert.deepEqual(echo!.triggers, ["echo", "echo.v2"]);
  assert.equal(jokes!.latencyMs, undefined, "no latency when nodes do not report it");
  assert.equal(jokes!.state, "running");
});

test("ui model - a ring keeps the newest items", () => {
  const ring = new Ring<number>(3);
  for (let i = 1; i <= 5; i++) ring.push(i);
  assert.deepEqual(ring.all(), [3, 4, 5]);
});

test("ui model - events and numbers read the way a person reads them", () => {
  assert.equal(eventSummary({ name: "echo", subject: "echo", code: "NEX_E_FUNCTION_ERROR", message: "boom", nodeId: "N1" }), "echo subject=echo code=NEX_E_FUNCTION_ERROR message=boom");
  assert.equal(eventSummary(null), "");
  assert.equal(fmtRate(undefined), "–");
  assert.equal(fmtRate(0), "0/s");
  assert.equal(fmtRate(0.5), "0.50/s");
  assert.equal(fmtRate(2.25), "2.3/s");
  assert.equal(fmtRate(120.4), "120/s");
  assert.equal(fmtUptime(59_000), "59s");
  assert.equal(fmtUptime(3_723_000), "1h 2m");
});

test("ui model - the dashboard listens on loopback names only", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]) assert.ok(isLoopback(h), h);
  for (const h of ["0.0.0.0", "::", "10.0.0.5", "example.com", "127.0.0.1.example.com"]) assert.ok(!isLoopback(h), h);
});

test("ui model - the page's user may read its namespace and publish nothing else", () => {
  const p = dashboardPermissions("default", "_INBOX_ui-abc");
  const pub = p.pub?.allow ?? [];
  assert.ok(pub.includes("$NEX.SVC.default.control.PING") && pub.includes("$NEX.SVC.default.control.LIST"));
  assert.ok(!pub.some((s) => /DEPLOY|STOP|LAMEDUCK|AUCTION/.test(s) || s === ">" || s.startsWith("$KV") || s.startsWith("$O")), pub.join(" "));
  assert.ok(pub.every((s) => !s.startsWith("$JS.API.") || s === "$JS.API.INFO" || s.includes("NEX_FEED_default")), "JetStream only on its feed stream");
  assert.deepEqual(p.sub?.allow, ["_INBOX_ui-abc.>", "$NEX.FEED.default.>"]);
});
