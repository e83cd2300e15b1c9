/**
 * Where one JS invocation's time goes, without NATS: the v8 engine's `invoke()` against bare isolated-vm calls,
 * sequentially (latency) and with 50 in flight (throughput), in this process.
 * Run: node --no-node-snapshot --import tsx bench/profile/invoke-path.ts [calls]
 */
import { readFileSync } from "node:fs";
import type { Reference } from "isolated-vm";
import ivm from "../../src/runtimes/v8/ivm.js";
import type { WorkloadSpec } from "../../src/contract/index.js";
import { MemoryHostServices } from "../../src/hostservices/index.js";
import type { LoadedFunction } from "../../src/runtimes/engine.js";
import { createV8Engine } from "../../src/runtimes/v8/engine.js";
import { textTable } from "../lib/stats.js";
import { CONCURRENCY, concurrent, sequential, type Call } from "./timing.js";

const CALLS = Number(process.argv[2] ?? 20_000);
const payload = new TextEncoder().encode("hello nex!");
const ECHO = readFileSync(new URL("../../examples/js/echo.js", import.meta.url), "utf8");
const ECHO_QUIET = `(subject, payload) => ({ triggered_on: subject, payload: String.fromCharCode(...payload) });`;


/** Bare isolated-vm: one context, a sync or async wrapper, the same copy options as the engine. */
async function bare(asyncWrapper: boolean, promise: boolean): Promise<Call> {
  const isolate = new ivm.Isolate({ memoryLimit: 64 });
  const context = await isolate.createContext();
  const fn = (await (await isolate.compileScript(
    `(${asyncWrapper ? "async " : ""}(s, p) => JSON.stringify({ triggered_on: s, payload: String.fromCharCode(...p) }))`,
  )).run(context, { reference: true })) as Reference<(s: string, p: Uint8Array) => string>;
  return () => fn.apply(undefined, ["bench", payload], { timeout: 5_000, arguments: { copy: true }, result: { copy: true, promise } });
}

async function engineCall(source: string, logs: { n: number }): Promise<{ call: Call; fn: LoadedFunction }> {
  const engine = await createV8Engine({ nodeId: "bench", maxReplyBytes: 1_048_576, batchSize: 128 });
  const spec = { id: "b", name: "echo", namespace: "default", type: "v8", timeoutMs: 5_000, memoryLimitMiB: 64, triggers: ["bench"] } as unknown as WorkloadSpec;
  const fn = await engine.load(spec, new TextEncoder().encode(source), { services: new MemoryHostServices(), log: () => void logs.n++ });
  return { call: () => fn.invoke({ subject: "bench", payload, reply: "_INBOX.x" }), fn };
}

const logs = { n: 0 };
const quiet = await engineCall(ECHO_QUIET, logs);
const echo = await engineCall(ECHO, logs);
const paths: [string, Call][] = [
  ["ivm apply, sync wrapper, copy in/out", await bare(false, false)],
  ["ivm apply, async wrapper, result promise", await bare(true, true)],
  ["engine.invoke, echo without console.log", quiet.call],
  ["engine.invoke, echo.js (console.log each call)", echo.call],
];
/** Rounds, interleaved over the paths; the best of each is kept, so load from elsewhere counts least. */
const ROUNDS = 3;
const best = paths.map(() => ({ seq: Infinity, rps: 0 }));
for (let r = 0; r < ROUNDS; r++) {
  for (const [i, [, call]] of paths.entries()) {
    best[i]!.seq = Math.min(best[i]!.seq, await sequential(call, CALLS));
    best[i]!.rps = Math.max(best[i]!.rps, await concurrent(call, CALLS));
  }
}
const rows = paths.map(([name], i) => [name, `${best[i]!.seq.toFixed(1)} µs`, `${Math.round(best[i]!.rps)}`]);
quiet.fn.dispose();
echo.fn.dispose();
process.stdout.write(`${textTable(["path (no NATS)", "per call, sequential", `calls/s, ${CONCURRENCY} in flight`], rows)}\n`);
