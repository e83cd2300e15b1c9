/**
 * Sections 1 and 2: sequential latency and concurrent throughput of every workload, each a ratio to raw NATS.
 * The machine is shared and noisy, so the rows take turns: the measurement is cut into slices run round-robin,
 * and a burst of load from elsewhere lands on every row alike instead of on one.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import type { BenchConfig } from "../lib/config.js";
import { LatencySamples, runFor, warmUp, type ThroughputSlice } from "../lib/load.js";
import type { LatencyRow, ThroughputRow } from "../lib/results.js";
import type { Row } from "../lib/workloads.js";

/** Sequential requests per latency slice. */
const LATENCY_SLICE = 500;
/** Throughput slices per row. */
const THROUGHPUT_SLICES = 5;

type Live = Extract<Row, { target: unknown }>;

function live(rows: Row[]): Live[] {
  return rows.filter((r): r is Live => !("na" in r));
}

/** Section 1: `latencyRequests` sequential requests after a warm-up, per row. */
export async function latencySuite(
  nc: NatsConnection,
  rows: Row[],
  cfg: BenchConfig,
  progress: (s: string) => void,
  maxRequests: (key: string) => number = () => Infinity,
): Promise<LatencyRow[]> {
  const samples = new Map<string, LatencySamples>();
  for (const row of live(rows)) {
    progress(`latency: warming up ${row.name}`);
    await warmUp(nc, row.target, Math.min(cfg.warmupRequests, Math.ceil(maxRequests(row.key) / 5)));
    samples.set(row.key, new LatencySamples());
  }
  const slices = Math.ceil(cfg.latencyRequests / LATENCY_SLICE);
  for (let i = 0; i < slices; i++) {
    progress(`latency: slice ${i + 1}/${slices}`);
    const n = Math.min(LATENCY_SLICE, cfg.latencyRequests - i * LATENCY_SLICE);
    for (const row of live(rows)) {
      const cap = Math.ceil(Math.min(cfg.latencyRequests, maxRequests(row.key)) / slices);
      await samples.get(row.key)!.run(nc, row.target, Math.min(n, cap));
    }
  }
  const out: LatencyRow[] = rows.map((row) => ("na" in row ? { name: row.name, key: row.key, na: row.na } : { name: row.name, key: row.key, ...samples.get(row.key)!.result() }));
  const raw = out.find((r) => r.key === "raw");
  const rawP50 = raw && !("na" in raw) ? raw.p50Us : undefined;
  for (const r of out) if (!("na" in r) && rawP50) r.ratioP50 = r.p50Us / rawP50;
  return out;
}

/** Section 2: `requesters` concurrent requesters for `throughputSeconds` in all, per row. */
export async function throughputSuite(nc: NatsConnection, rows: Row[], cfg: BenchConfig, progress: (s: string) => void): Promise<ThroughputRow[]> {
  const sums = new Map<string, ThroughputSlice>();
  for (const row of live(rows)) {
    progress(`throughput: warming up ${row.name}`);
    await runFor(nc, row.target, cfg.requesters, Math.min(1, cfg.throughputSeconds / THROUGHPUT_SLICES));
    sums.set(row.key, { ok: 0, errors: 0, elapsedS: 0 });
  }
  for (let i = 0; i < THROUGHPUT_SLICES; i++) {
    progress(`throughput: slice ${i + 1}/${THROUGHPUT_SLICES}`);
    for (const row of live(rows)) {
      const r = await runFor(nc, row.target, cfg.requesters, cfg.throughputSeconds / THROUGHPUT_SLICES);
      const s = sums.get(row.key)!;
      s.ok += r.ok;
      s.errors += r.errors;
      s.elapsedS += r.elapsedS;
      s.firstError ??= r.firstError;
    }
  }
  const out: ThroughputRow[] = rows.map((row) => {
    if ("na" in row) return { name: row.name, key: row.key, na: row.na };
    const s = sums.get(row.key)!;
    return { name: row.name, key: row.key, rps: s.ok / s.elapsedS, ok: s.ok, errors: s.errors, firstError: s.firstError };
  });
  const raw = out.find((r) => r.key === "raw");
  const rawRps = raw && !("na" in raw) ? raw.rps : undefined;
  for (const r of out) if (!("na" in r) && rawRps) r.ratio = r.rps / rawRps;
  return out;
}
