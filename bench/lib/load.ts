/** The two load shapes: sequential requests (latency) and many concurrent requesters (throughput). */
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { summarize } from "./stats.js";

/** What to send and how to tell a good reply from a bad one. */
export interface Target {
  subject: string;
  payload: Uint8Array;
  /** Returns an error text for a wrong reply, undefined for a good one. */
  check: (msg: Msg) => string | undefined;
  timeoutMs?: number;
}

/** Latency of `n` sequential requests, in µs. */
export interface LatencyResult {
  n: number;
  p50Us: number;
  p99Us: number;
  errors: number;
  firstError?: string;
}

/** Throughput over a fixed time. */
export interface ThroughputResult {
  seconds: number;
  requesters: number;
  ok: number;
  errors: number;
  rps: number;
  firstError?: string;
}

async function once(nc: NatsConnection, t: Target): Promise<string | undefined> {
  try {
    return t.check(await nc.request(t.subject, t.payload, { timeout: t.timeoutMs ?? 5_000 }));
  } catch (err) {
    return (err as Error).message || String(err);
  }
}

/** Sends requests until one succeeds (or `timeoutMs` passes); returns the last error, or undefined on success. */
export async function probe(nc: NatsConnection, t: Target, timeoutMs = 5_000): Promise<string | undefined> {
  const deadline = performance.now() + timeoutMs;
  let last: string | undefined = "no attempt";
  while (performance.now() < deadline) {
    last = await once(nc, { ...t, timeoutMs: Math.min(t.timeoutMs ?? 1_000, 1_000) });
    if (last === undefined) return undefined;
    await new Promise((r) => setTimeout(r, 5));
  }
  return last;
}

/** `warmup` unmeasured requests, then `n` sequential measured ones. */
export async function measureLatency(nc: NatsConnection, t: Target, n: number, warmup: number): Promise<LatencyResult> {
  for (let i = 0; i < warmup; i++) await once(nc, t);
  const times: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const err = await once(nc, t);
    const us = (performance.now() - t0) * 1000;
    if (err === undefined) times.push(us);
    else {
      errors++;
      firstError ??= err;
    }
  }
  const { p50, p99 } = summarize(times);
  return { n, p50Us: p50, p99Us: p99, errors, firstError };
}

/** `requesters` loops, each sending its next request when the last one is answered, for `seconds`. */
export async function measureThroughput(nc: NatsConnection, t: Target, requesters: number, seconds: number): Promise<ThroughputResult> {
  // A short unmeasured burst first, so JIT warm-up and buffer growth are not counted.
  await runFor(nc, t, requesters, Math.min(1, seconds / 5));
  const r = await runFor(nc, t, requesters, seconds);
  return { seconds, requesters, ...r, rps: r.ok / r.elapsedS };
}

async function runFor(
  nc: NatsConnection,
  t: Target,
  requesters: number,
  seconds: number,
): Promise<{ ok: number; errors: number; elapsedS: number; firstError?: string }> {
  let ok = 0;
  let errors = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const err = await once(nc, t);
      if (err === undefined) ok++;
      else {
        errors++;
        firstError ??= err;
        // A failing target must not turn into a busy loop.
        if (errors > 1_000) return;
      }
    }
  };
  await Promise.all(Array.from({ length: requesters }, loop));
  return { ok, errors, elapsedS: (performance.now() - t0) / 1000, firstError };
}
