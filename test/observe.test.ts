import { test } from "node:test";
import assert from "node:assert/strict";
import { NexError } from "../src/contract/index.js";
import { ActivityLog, RECENT_ERRORS, RECENT_INVOCATIONS } from "../src/observe/activity.js";
import { DURATION_BUCKETS_SECONDS, DurationRecorder, FINE_BUCKETS_SECONDS, addDurations } from "../src/observe/durations.js";
import { resolveNodeOptions } from "../src/node/options.js";
import { addStats } from "../src/runtimes/functions/stats.js";

test("observe - every Prometheus bucket bound is a fine bound, so fine counts fold into them exactly", () => {
  for (const b of DURATION_BUCKETS_SECONDS) assert.ok(FINE_BUCKETS_SECONDS.includes(b), `${b} is a fine bound`);
  const d = new DurationRecorder(0);
  // One observation on each Prometheus bound (inclusive, as `le` says), and one past the last.
  for (const b of DURATION_BUCKETS_SECONDS) d.record(0, b * 1000);
  d.record(0, 120_000);
  const { counts, sum } = d.snapshot();
  assert.deepEqual(counts, new Array(DURATION_BUCKETS_SECONDS.length + 1).fill(1));
  assert.ok(Math.abs(sum - (DURATION_BUCKETS_SECONDS.reduce((a, b) => a + b, 0) + 120)) < 1e-9);
});

test("observe - p50 and p99 come from the last minute only, within a fine bucket of the truth", () => {
  const d = new DurationRecorder(0);
  // 100 calls at 1..100 ms, at t = 1 s.
  for (let ms = 1; ms <= 100; ms++) d.record(1_000, 1_000 + ms);
  const l = d.latencyMs(2_000)!;
  assert.ok(l.p50 >= 40 && l.p50 <= 60, `p50 ${l.p50}`);
  assert.ok(l.p99 >= 80 && l.p99 <= 100, `p99 ${l.p99}`);
  // Two minutes later, with nothing recorded since, the window is empty.
  assert.equal(d.latencyMs(130_000), undefined);
  // New calls after a quiet spell count alone.
  for (let i = 0; i < 10; i++) d.record(200_000, 200_002);
  const fresh = d.latencyMs(200_010)!;
  assert.ok(fresh.p99 <= 2.5, `only the recent 2 ms calls: ${JSON.stringify(fresh)}`);
  assert.equal(d.snapshot().counts.reduce((a, b) => a + b, 0), 110, "cumulative counts keep everything");
});

test("observe - the activity log keeps the last invocations in order and the last errors with the function's stack", () => {
  const a = new ActivityLog();
  for (let i = 0; i < RECENT_INVOCATIONS + 7; i++) a.invocation(i, i + 0.5, `s${i}`, "ok");
  for (let i = 0; i < RECENT_ERRORS + 2; i++) {
    const cause = { name: "Error", message: `e${i}`, stack: `Error: e${i}\n    at fn.js:1:1` };
    a.error(i, "s", new NexError("NEX_E_FUNCTION_ERROR", `e${i}`, { cause }));
  }
  const r = a.read();
  assert.equal(r.recentInvocations.length, RECENT_INVOCATIONS);
  assert.equal(r.recentInvocations[0]!.subject, "s7");
  assert.equal(r.recentInvocations.at(-1)!.subject, `s${RECENT_INVOCATIONS + 6}`);
  assert.equal(r.recentInvocations[0]!.durationMs, 0.5);
  assert.equal(r.recentErrors.length, RECENT_ERRORS);
  assert.equal(r.recentErrors[0]!.message, "e2");
  assert.match(r.recentErrors.at(-1)!.stack ?? "", /at fn\.js:1:1/);
});

test("observe - counters of a dead runner add to the live one's", () => {
  const base = { state: "running" as const, invocations: 10, failures: 2, restarts: 1, failuresByCode: { NEX_E_FUNCTION_ERROR: 2 }, durations: { counts: [1, 2], sum: 0.5 }, lastError: "runner died" };
  const live = { state: "running" as const, invocations: 3, failures: 1, restarts: 0, failuresByCode: { NEX_E_FUNCTION_TIMEOUT: 1 }, durations: { counts: [0, 3], sum: 0.25 }, inFlight: 2 };
  const sum = addStats(base, live);
  assert.equal(sum.invocations, 13);
  assert.equal(sum.failures, 3);
  assert.equal(sum.restarts, 1);
  assert.deepEqual(sum.failuresByCode, { NEX_E_FUNCTION_ERROR: 2, NEX_E_FUNCTION_TIMEOUT: 1 });
  assert.deepEqual(sum.durations, { counts: [1, 5], sum: 0.75 });
  assert.equal(sum.inFlight, 2);
  assert.equal(sum.lastError, "runner died");
  assert.deepEqual(addDurations(undefined, { counts: [1], sum: 1 }), { counts: [1], sum: 1 });
});

test("observe - metrics and OTLP settings are checked when the node resolves its options", () => {
  const base = { connection: { servers: ["nats://127.0.0.1:1"] } };
  assert.equal(resolveNodeOptions(base).metrics, undefined, "no metrics unless a port is given");
  assert.equal(resolveNodeOptions(base).otlpEndpoint, undefined, "no tracing unless an endpoint is given");
  assert.deepEqual(resolveNodeOptions({ ...base, metricsPort: 9464 }).metrics, { host: "127.0.0.1", port: 9464 });
  assert.deepEqual(resolveNodeOptions({ ...base, metricsPort: 9464, metricsHost: "0.0.0.0" }).metrics, { host: "0.0.0.0", port: 9464 });
  assert.throws(() => resolveNodeOptions({ ...base, metricsPort: 70_000 }), /metrics-port/);
  assert.throws(() => resolveNodeOptions({ ...base, metricsHost: "0.0.0.0" }), /metrics-host: needs --metrics-port/);
  assert.equal(resolveNodeOptions({ ...base, otlpEndpoint: "http://collector:4318" }).otlpEndpoint, "http://collector:4318/v1/traces");
  assert.equal(resolveNodeOptions({ ...base, otlpEndpoint: "https://c.example/otlp/v1/traces" }).otlpEndpoint, "https://c.example/otlp/v1/traces");
  assert.throws(() => resolveNodeOptions({ ...base, otlpEndpoint: "grpc://collector:4317" }), /otlp-endpoint: must be an http/);
  assert.throws(() => resolveNodeOptions({ ...base, otlpEndpoint: "not a url" }), /otlp-endpoint/);
});
