/**
 * Section 5: what the design choices are worth. The talk's echo.js in a bench-only responder three ways (one
 * isolate and context reused, a fresh context per call, a fresh isolate per call as Nex does), measured in turns
 * with raw NATS and the real nex-ts JS echo, so all five see the same machine.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import type { BenchConfig } from "../lib/config.js";
import type { BenchEnv, Child } from "../lib/env.js";
import type { DesignRow } from "../lib/results.js";
import { PAYLOAD, expectJsEcho, type Row } from "../lib/workloads.js";
import { latencySuite, throughputSuite } from "./invocation.js";

const MODES = [
  { mode: "reuse", name: "isolate + context reused (bench runner)" },
  { mode: "context", name: "fresh context per call (bench runner)" },
  { mode: "isolate", name: "fresh isolate per call, Nex's way (bench runner)" },
] as const;

/** Fresh isolates cost milliseconds each: cap their sequential run so the section stays within minutes. */
const ISOLATE_MAX_REQUESTS = 2_000;

/** Runs section 5; `base` holds the raw NATS and nex-ts JS echo rows of section 1 (still deployed). */
export async function designSuite(env: BenchEnv, nc: NatsConnection, cfg: BenchConfig, base: Row[], progress: (s: string) => void): Promise<DesignRow[]> {
  const rows: Row[] = base
    .filter((r) => r.key === "raw" || r.key === "js")
    .map((r) => ({ ...r, name: r.key === "js" ? "nex-ts JS echo (the real runner)" : r.name }));
  const children: Child<unknown>[] = [];
  try {
    for (const m of MODES) {
      const subject = `bench.design.${m.mode}`;
      try {
        children.push(await env.responder(m.mode, subject));
        rows.push({ name: m.name, key: m.mode, target: { subject, payload: new TextEncoder().encode(PAYLOAD), check: expectJsEcho(subject) }, stop: async () => undefined });
      } catch (err) {
        rows.push({ name: m.name, key: m.mode, na: (err as Error).message });
      }
    }
    const say = (s: string): void => progress(`design: ${s}`);
    const latency = await latencySuite(nc, rows, cfg, say, (key) => (key === "isolate" ? ISOLATE_MAX_REQUESTS : Infinity));
    const throughput = await throughputSuite(nc, rows, cfg, say);
    return latency.map((l): DesignRow => {
      if ("na" in l) return { name: l.name, key: l.key, na: l.na };
      if (l.errors > 0) return { name: l.name, key: l.key, na: `${l.errors} errors: ${l.firstError ?? ""}` };
      const t = throughput.find((x) => x.key === l.key);
      const measured = t && !("na" in t) ? t : undefined;
      return { name: l.name, key: l.key, n: l.n, p50Us: l.p50Us, p99Us: l.p99Us, ratioP50: l.ratioP50, rps: measured?.rps ?? NaN, throughputErrors: measured?.errors };
    });
  } finally {
    for (const c of children) await env.stopChild(c);
  }
}
