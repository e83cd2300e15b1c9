/** Sections 1 and 2: sequential latency and concurrent throughput of every workload, each a ratio to raw NATS. */
import type { NatsConnection } from "@nats-io/nats-core";
import type { BenchConfig } from "../lib/config.js";
import { measureLatency, measureThroughput } from "../lib/load.js";
import type { LatencyRow, ThroughputRow } from "../lib/results.js";
import type { Row } from "../lib/workloads.js";

/** Section 1: `latencyRequests` sequential requests after a warm-up, per row. */
export async function latencySuite(nc: NatsConnection, rows: Row[], cfg: BenchConfig, progress: (s: string) => void): Promise<LatencyRow[]> {
  const out: LatencyRow[] = [];
  for (const row of rows) {
    if ("na" in row) {
      out.push({ name: row.name, key: row.key, na: row.na });
      continue;
    }
    progress(`latency: ${row.name}`);
    const r = await measureLatency(nc, row.target, cfg.latencyRequests, cfg.warmupRequests);
    out.push({ name: row.name, key: row.key, ...r });
  }
  const raw = out.find((r) => r.key === "raw");
  const rawP50 = raw && !("na" in raw) ? raw.p50Us : undefined;
  for (const r of out) if (!("na" in r) && rawP50) r.ratioP50 = r.p50Us / rawP50;
  return out;
}

/** Section 2: `requesters` concurrent requesters for `throughputSeconds`, per row. */
export async function throughputSuite(nc: NatsConnection, rows: Row[], cfg: BenchConfig, progress: (s: string) => void): Promise<ThroughputRow[]> {
  const out: ThroughputRow[] = [];
  for (const row of rows) {
    if ("na" in row) {
      out.push({ name: row.name, key: row.key, na: row.na });
      continue;
    }
    progress(`throughput: ${row.name}`);
    const r = await measureThroughput(nc, row.target, cfg.requesters, cfg.throughputSeconds);
    out.push({ name: row.name, key: row.key, rps: r.rps, ok: r.ok, errors: r.errors, firstError: r.firstError });
  }
  const raw = out.find((r) => r.key === "raw");
  const rawRps = raw && !("na" in raw) ? raw.rps : undefined;
  for (const r of out) if (!("na" in r) && rawRps) r.ratio = r.rps / rawRps;
  return out;
}
