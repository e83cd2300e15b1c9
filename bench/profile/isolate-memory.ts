/**
 * What one JS function costs in memory: RSS growth per isolate for a bare isolate, an isolate with a context, and a
 * function loaded by the real v8 engine (prelude, web runtime, host-service API and echo.js), with V8's own heap
 * figures for the last. Run: node --no-node-snapshot --import tsx bench/profile/isolate-memory.ts [count]
 */
import { readFileSync } from "node:fs";
import type { Isolate } from "isolated-vm";
import ivm from "../../src/runtimes/v8/ivm.js";
import type { WorkloadSpec } from "../../src/contract/index.js";
import { MemoryHostServices } from "../../src/hostservices/index.js";
import type { LoadedFunction } from "../../src/runtimes/engine.js";
import { createV8Engine } from "../../src/runtimes/v8/engine.js";
import { fmtMiB, textTable } from "../lib/stats.js";

const COUNT = Number(process.argv[2] ?? 200);
const ECHO = readFileSync(new URL("../../examples/js/echo.js", import.meta.url), "utf8");

async function settle(): Promise<number> {
  await new Promise((r) => setTimeout(r, 300));
  return process.memoryUsage.rss();
}

const rows: string[][] = [];
async function perItem(name: string, make: () => Promise<unknown>, free: (x: unknown) => void): Promise<void> {
  const before = await settle();
  const items: unknown[] = [];
  for (let i = 0; i < COUNT; i++) items.push(await make());
  const after = await settle();
  rows.push([name, `${Math.round((after - before) / COUNT / 1024)} KiB`, fmtMiB(after - before)]);
  for (const x of items) free(x);
}

await perItem("bare isolate (memoryLimit 64)", async () => new ivm.Isolate({ memoryLimit: 64 }), (x) => (x as Isolate).dispose());
await perItem(
  "isolate + empty context",
  async () => {
    const i = new ivm.Isolate({ memoryLimit: 64 });
    await i.createContext();
    return i;
  },
  (x) => (x as Isolate).dispose(),
);
const engine = await createV8Engine({ nodeId: "bench", maxReplyBytes: 1_048_576, batchSize: 128 });
let n = 0;
await perItem(
  "echo.js loaded by the v8 engine",
  async () => {
    const spec = { id: `m${n}`, name: `m${n++}`, namespace: "default", type: "v8", timeoutMs: 5_000, memoryLimitMiB: 64, triggers: [] } as unknown as WorkloadSpec;
    return engine.load(spec, new TextEncoder().encode(ECHO), { services: new MemoryHostServices(), log: () => undefined });
  },
  (x) => (x as LoadedFunction).dispose(),
);
const probe = new ivm.Isolate({ memoryLimit: 64 });
const ctx = await probe.createContext();
const heap = probe.getHeapStatisticsSync();
rows.push(["(V8 heap of an isolate + empty context)", `${Math.round(heap.total_heap_size / 1024)} KiB total heap`, `${Math.round(heap.used_heap_size / 1024)} KiB used`]);
ctx.release();
probe.dispose();
await engine.close();
process.stdout.write(`${textTable(["per function", "RSS each", `RSS for ${COUNT}`], rows)}\n`);
