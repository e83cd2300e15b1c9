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
  /** Instead of a request: one operation of a plain client (a KV get), answering an error text or undefined. */
  op?: () => Promise<string | undefined>;
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
    if (t.op) return await t.op();
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

/** Latency samples (µs) and errors collected so far for one target. */
export class LatencySamples {
  readonly times: number[] = [];
  errors = 0;
  firstError: string | undefined;

  /** Sends `n` sequential requests and records each one. */
  async run(nc: NatsConnection, t: Target, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const err = await once(nc, t);
      const us = (performance.now() - t0) * 1000;
      if (err === undefined) this.times.push(us);
      else {
        this.errors++;
        this.firstError ??= err;
      }
    }
  }

  /** p50, p99 and errors. */
  result(): LatencyResult {
    const { p50, p99 } = summarize(this.times);
    return { n: this.times.length + this.errors, p50Us: p50, p99Us: p99, errors: this.errors, firstError: this.firstError };
  }
}

/** Unmeasured requests, to warm up both ends. */
export async function warmUp(nc: NatsConnection, t: Target, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await once(nc, t);
}

/** `warmup` unmeasured requests, then `n` sequential measured ones. */
export async function measureLatency(nc: NatsConnection, t: Target, n: number, warmup: number): Promise<LatencyResult> {
  await warmUp(nc, t, warmup);
  const s = new LatencySamples();
  await s.run(nc, t, n);
  return s.result();
}

/** `requesters` loops, each sending its next request when the last one is answered, for `seconds`. */
export async function measureThroughput(nc: NatsConnection, t: Target, requesters: number, seconds: number): Promise<ThroughputResult> {
  // A short unmeasured burst first, so JIT warm-up and buffer growth are not counted.
  await runFor(nc, t, requesters, Math.min(1, seconds / 5));
  const r = await runFor(nc, t, requesters, seconds);
  return { seconds, requesters, ...r, rps: r.ok / r.elapsedS };
}

/** Requests answered in one timed run. */
export interface ThroughputSlice {
  ok: number;
  errors: number;
  elapsedS: number;
  firstError?: string;
}

/** One timed run of `requesters` loops for `seconds` (no warm-up). */
export async function runFor(
  nc: NatsConnection,
  t: Target,
  requesters: number,
  seconds: number,
): Promise<ThroughputSlice> {
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
