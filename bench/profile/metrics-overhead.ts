/**
 * What the runner's per-invocation measurement costs: the `performance.now()` pair and the recorder calls that
 * `src/runner/triggers.ts` makes for every invocation, timed in a loop on their own, and the garbage collections
 * they cause (none means they allocate nothing).
 * Run: node --no-node-snapshot --import tsx bench/profile/metrics-overhead.ts [calls]
 */
import { PerformanceObserver } from "node:perf_hooks";
import { NexError } from "../../src/contract/index.js";
import { FunctionRecorder } from "../../src/observe/recorder.js";
import { textTable } from "../lib/stats.js";

const CALLS = Number(process.argv[2] ?? 2_000_000);
const ROUNDS = 5;
const subjects = ["echo", "iot.telemetry", "devices.a.temp"];

let gcs = 0;
const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
obs.observe({ entryTypes: ["gc"] });

/** Best time per call over the rounds, and the collections of the best round. */
async function measure(body: (i: number) => void): Promise<{ ns: number; gcs: number }> {
  let best = { ns: Infinity, gcs: 0 };
  for (let r = 0; r < ROUNDS; r++) {
    await new Promise((res) => setImmediate(res));
    const before = gcs;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) body(i);
    const ns = Number(process.hrtime.bigint() - t0) / CALLS;
    // The observer reports asynchronously.
    await new Promise((res) => setTimeout(res, 20));
    if (ns < best.ns) best = { ns, gcs: gcs - before };
  }
  return best;
}

let sink = 0;
const rec = new FunctionRecorder();
const alone = new FunctionRecorder();
const failing = new FunctionRecorder();
const err = new NexError("NEX_E_FUNCTION_ERROR", "boom");
// Readings taken beforehand, so the recorder is timed (and its allocations counted) without the clock's.
const t0s = Float64Array.from({ length: 1024 }, (_, i) => i * 0.37);
const t1s = Float64Array.from({ length: 1024 }, (_, i) => i * 0.37 + 0.05 + (i % 7) * 0.2);

const rows: [string, { ns: number; gcs: number }][] = [
  ["empty loop (the floor)", await measure(() => undefined)],
  ["the recorder alone (arrived + ok, readings given)", await measure((i) => {
    alone.arrived();
    alone.ok(t0s[i & 1023]!, t1s[i & 1023]!, subjects[i % 3]!);
  })],
  ["performance.now() pair only", await measure(() => void (sink += performance.now() - performance.now()))],
  [
    "what each ok invocation adds: now() pair + arrived + ok",
    await measure((i) => {
      const t0 = performance.now();
      rec.arrived();
      rec.ok(t0, performance.now(), subjects[i % 3]!);
    }),
  ],
  [
    "a failed invocation: now() pair + arrived + failed",
    await measure((i) => {
      const t0 = performance.now();
      failing.arrived();
      failing.failed(t0, performance.now(), subjects[i % 3]!, err);
    }),
  ],
];
obs.disconnect();
const table = rows.map(([name, r]) => [name, `${r.ns.toFixed(1)} ns`, String(r.gcs)]);
process.stdout.write(`${textTable(["per call (best of 5 rounds)", "time", "GCs in the round"], table)}\n`);
process.stdout.write(`${CALLS} calls per round, node ${process.version}; recorded ${rec.invocations + alone.invocations} invocations (${sink === 0 ? "" : "·"})\n`);
