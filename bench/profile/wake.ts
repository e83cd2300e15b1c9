/**
 * The v8 engine's wake, in one process without NATS: echo.js functions are evicted (idle eviction after 20 ms), then
 * each is invoked once, one after another with `gap` ms between them (0: back to back), for three rounds; p50 and p90
 * of those first calls. Then the parts of a build on bare isolated-vm and the runtime's boot, for comparison.
 * Run: node --no-node-snapshot --import tsx bench/profile/wake.ts [functions] [gap-ms]
 */
import { readFileSync } from "node:fs";
import type { WorkloadSpec } from "../../src/contract/index.js";
import { MemoryHostServices } from "../../src/hostservices/index.js";
import { DEFAULT_LOG_LIMITS, type LoadedFunction } from "../../src/runtimes/engine.js";
import { createV8Engine } from "../../src/runtimes/v8/engine.js";
import { buildLive, prepare } from "../../src/runtimes/v8/isolate.js";
import { textTable } from "../lib/stats.js";

const COUNT = Number(process.argv[2] ?? 30);
const GAP_MS = Number(process.argv[3] ?? 50);
const ECHO = readFileSync(new URL("../../examples/js/echo.js", import.meta.url), "utf8");
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const spec = (name: string): WorkloadSpec => ({ id: name, name, namespace: "default", timeoutMs: 5_000, memoryLimitMiB: 64 }) as WorkloadSpec;

function p(xs: number[], q: number): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[Math.min(s.length - 1, Math.floor(s.length * q))]!.toFixed(2)} ms`;
}

const engine = await createV8Engine({ nodeId: "n", maxReplyBytes: 1 << 20, batchSize: 128, idleEvictMs: 20 });
const services = new MemoryHostServices();
const bindings = { services, log: (): void => undefined };
const fns: LoadedFunction[] = [];
for (let i = 0; i < COUNT; i++) fns.push(await engine.load(spec(`f${i}`), new TextEncoder().encode(ECHO), bindings));
const wakes: number[] = [];
for (let round = 0; round < 3; round++) {
  await sleep(200);
  for (const fn of fns) {
    if (!fn.status?.().idle) throw new Error("a function was not evicted");
    if (GAP_MS > 0) await sleep(GAP_MS);
    const t = performance.now();
    await fn.invoke({ subject: "s", payload: new Uint8Array(3) });
    wakes.push(performance.now() - t);
  }
}
await engine.close();

// A build's parts: the runtime's boot (what a spare saves), the rest of a build from a spare, the first invocation.
const boot: number[] = [];
const rest: number[] = [];
const first: number[] = [];
for (let i = 0; i < 40; i++) {
  let t = performance.now();
  const spare = await prepare(64, DEFAULT_LOG_LIMITS);
  boot.push(performance.now() - t);
  await sleep(10);
  t = performance.now();
  const live = await buildLive(spec("parts"), ECHO, bindings, DEFAULT_LOG_LIMITS, { report: () => undefined, died: () => undefined }, spare);
  rest.push(performance.now() - t);
  t = performance.now();
  await live.single.apply(undefined, ["s", new Uint8Array(3), {}, 1], { arguments: { copy: true }, result: { copy: true, promise: true } });
  first.push(performance.now() - t);
  live.booted.release();
  live.isolate.dispose();
}

console.log(
  textTable(
    ["measure", "p50", "p90"],
    [
      [`first call after eviction (${COUNT} functions × 3, ${GAP_MS} ms apart)`, p(wakes, 0.5), p(wakes, 0.9)],
      ["boot: isolate, context, runtime (a spare)", p(boot, 0.5), p(boot, 0.9)],
      ["build from a spare: the function's script, bind", p(rest, 0.5), p(rest, 0.9)],
      ["first invocation in a fresh isolate", p(first, 0.5), p(first, 0.9)],
    ],
  ),
);
