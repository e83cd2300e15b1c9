/**
 * Section 5: what the design choices are worth. The talk's echo.js in a bench-only responder three ways (one
 * isolate and context reused, a fresh context per call, a fresh isolate per call as Nex does), beside the real
 * nex-ts JS echo from sections 1 and 2 and raw NATS.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import type { BenchConfig } from "../lib/config.js";
import type { BenchEnv } from "../lib/env.js";
import { measureLatency, measureThroughput } from "../lib/load.js";
import type { DesignRow, LatencyRow, ThroughputRow } from "../lib/results.js";
import { PAYLOAD, expectJsEcho } from "../lib/workloads.js";

const MODES = [
  { mode: "reuse", name: "isolate + context reused (bench runner)" },
  { mode: "context", name: "fresh context per call" },
  { mode: "isolate", name: "fresh isolate per call (Nex's way)" },
] as const;

/** Fresh isolates cost milliseconds each: cap their sequential run so the section stays within minutes. */
const ISOLATE_MAX_REQUESTS = 2_000;

/** Runs section 5; `latency` and `throughput` give the rows of raw NATS and the nex-ts JS echo. */
export async function designSuite(
  env: BenchEnv,
  nc: NatsConnection,
  cfg: BenchConfig,
  latency: LatencyRow[],
  throughput: ThroughputRow[],
  progress: (s: string) => void,
): Promise<DesignRow[]> {
  const out: DesignRow[] = [];
  for (const key of ["raw", "js"]) {
    const l = latency.find((r) => r.key === key);
    const t = throughput.find((r) => r.key === key);
    if (!l) continue;
    const name = key === "raw" ? "raw NATS echo (the limit)" : "nex-ts JS echo (the real runner)";
    if ("na" in l) out.push({ name, key, na: l.na });
    else out.push({ name, key, n: l.n, p50Us: l.p50Us, p99Us: l.p99Us, rps: t && !("na" in t) ? t.rps : NaN });
  }
  for (const m of MODES) {
    progress(`design: ${m.name}`);
    const subject = `bench.design.${m.mode}`;
    let child;
    try {
      child = await env.responder(m.mode, subject);
    } catch (err) {
      out.push({ name: m.name, key: m.mode, na: (err as Error).message });
      continue;
    }
    try {
      const target = { subject, payload: new TextEncoder().encode(PAYLOAD), check: expectJsEcho(subject) };
      const n = m.mode === "isolate" ? Math.min(cfg.latencyRequests, ISOLATE_MAX_REQUESTS) : cfg.latencyRequests;
      const l = await measureLatency(nc, target, n, Math.min(cfg.warmupRequests, n / 5));
      const t = await measureThroughput(nc, target, cfg.requesters, cfg.throughputSeconds);
      if (l.errors > 0) out.push({ name: m.name, key: m.mode, na: `${l.errors} errors: ${l.firstError ?? ""}` });
      else out.push({ name: m.name, key: m.mode, n: l.n, p50Us: l.p50Us, p99Us: l.p99Us, rps: t.rps });
    } finally {
      await env.stopChild(child);
    }
  }
  const raw = out.find((r) => r.key === "raw");
  const rawP50 = raw && !("na" in raw) ? raw.p50Us : undefined;
  for (const r of out) if (!("na" in r) && rawP50) r.ratioP50 = r.p50Us / rawP50;
  return out;
}
