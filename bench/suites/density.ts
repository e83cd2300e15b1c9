/**
 * Section 4: density. A fresh node in its own process, with a short idle eviction, deploys N JS functions, each on
 * its own subject, and waits until every one of them is idle (its isolate freed). The node's RSS together with its
 * runner processes is read before, right after the deploys and once all are idle; then the first call after eviction
 * is timed on a sample, one function after another (apart, then back to back), and every function must answer one message exactly once (all of
 * them waking at once).
 */
import { createInbox, type Msg, type NatsConnection } from "@nats-io/nats-core";
import type { NexClient } from "../../src/client/index.js";
import { Headers } from "../../src/contract/index.js";
import type { BenchConfig } from "../lib/config.js";
import type { BenchEnv } from "../lib/env.js";
import { treeRss } from "../lib/proc.js";
import type { DensityResult, NotAvailable } from "../lib/results.js";
import { summarize } from "../lib/stats.js";
import { ARTIFACTS, PAYLOAD, fileArtifact } from "../lib/workloads.js";

/** How long the last replies may take after the last request (at least), and how long we listen for duplicates after that. */
const REPLY_WAIT_MS = 15_000;
const DUPLICATE_GRACE_MS = 500;
/** The node's idle eviction time in this section. */
const IDLE_EVICT_MS = 2_000;
/** The pause between two sampled first calls: each wake then stands alone, as a first call mostly does. */
const WAKE_GAP_MS = 50;
/** How long the functions may take to be reported idle after the last deploy. */
const EVICT_WAIT_MS = 120_000;

/** Runs the density section on a node of its own. */
export async function densitySuite(env: BenchEnv, nc: NatsConnection, client: NexClient, cfg: BenchConfig, progress: (s: string) => void): Promise<DensityResult | NotAvailable> {
  const n = cfg.densityFunctions;
  progress(`density: starting a node for ${n} functions (idle eviction after ${IDLE_EVICT_MS} ms)`);
  const node = await env.node("density", { types: ["v8"], warmRunners: true, idleEvictMs: IDLE_EVICT_MS, maxWorkloads: n + 100 });
  try {
    // Let the warm runner finish starting before the baseline is taken.
    await new Promise((r) => setTimeout(r, 1_000));
    const before = treeRss(node.pid);
    const art = fileArtifact(ARTIFACTS.jsEcho);
    const times: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      if (i % 500 === 0) progress(`density: deploying ${i}/${n}`);
      const t = performance.now();
      try {
        await client.deploy({ name: `dense-${i}`, type: "v8", triggers: [`bench.dense.${i}`], ...art }, { node: node.ready.id });
      } catch (err) {
        return { na: `deploy ${i} failed: ${(err as Error).message}` };
      }
      times.push(performance.now() - t);
    }
    const deploySeconds = (performance.now() - t0) / 1000;
    const deployed = treeRss(node.pid);
    progress("density: waiting until every function is idle");
    const t1 = performance.now();
    const idle = await allIdle(client, node.ready.id, n);
    if (idle !== n) return { na: `${idle} of ${n} functions were idle ${EVICT_WAIT_MS / 1000} s after the last deploy` };
    const evictedAfterSeconds = (performance.now() - t1) / 1000;
    // Let the runner give back what the last isolates held.
    await new Promise((r) => setTimeout(r, 1_000));
    const after = treeRss(node.pid);
    const sample = Math.min(cfg.wakeSample, Math.floor(n / 2));
    progress(`density: first call after eviction, ${sample} functions ${WAKE_GAP_MS} ms apart, then ${sample} back to back`);
    const wake = await wakeLatency(nc, 0, sample, WAKE_GAP_MS);
    const wakeBackToBack = await wakeLatency(nc, sample, sample, 0);
    progress("density: checking that each function answers once");
    const t2 = performance.now();
    const answers = await askEach(nc, n);
    const askSeconds = (performance.now() - t2) / 1000;
    const d = summarize(times);
    const tenth = Math.max(1, Math.floor(n / 10));
    return {
      functions: n,
      deploySeconds,
      deployP50Ms: d.p50,
      deployP99Ms: d.p99,
      deployFirstP50Ms: summarize(times.slice(0, tenth)).p50,
      deployLastP50Ms: summarize(times.slice(-tenth)).p50,
      idleEvictMs: IDLE_EVICT_MS,
      evictedAfterSeconds,
      rssBeforeBytes: before.bytes,
      rssDeployedBytes: deployed.bytes,
      rssAfterBytes: after.bytes,
      rssPerFunctionBytes: (after.bytes - before.bytes) / n,
      processes: after.processes,
      wake,
      wakeBackToBack,
      askSeconds,
      ...answers,
    };
  } finally {
    progress("density: stopping the node");
    await env.stopChild(node);
  }
}

/** Polls the node's LIST until all `n` functions are idle (or the wait is over); answers how many were. */
async function allIdle(client: NexClient, nodeId: string, n: number): Promise<number> {
  const deadline = performance.now() + EVICT_WAIT_MS;
  let idle = 0;
  while (performance.now() < deadline) {
    const list = await client.list({ node: nodeId });
    idle = list.filter((w) => w.name.startsWith("dense-") && w.state === "idle").length;
    if (idle >= n) return idle;
    await new Promise((r) => setTimeout(r, 500));
  }
  return idle;
}

/**
 * The first request to each of `n` evicted functions from `from` on, one after the other with `gapMs` between a reply
 * and the next request: the wake latency, of lone wakes (a gap) or of wakes in a row (none).
 */
async function wakeLatency(nc: NatsConnection, from: number, n: number, gapMs: number): Promise<DensityResult["wake"]> {
  const times: number[] = [];
  let errors = 0;
  for (let i = from; i < from + n; i++) {
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
    const t = performance.now();
    try {
      const m = await nc.request(`bench.dense.${i}`, PAYLOAD, { timeout: 10_000 });
      if (m.headers?.get(Headers.NexErrorCode)) errors++;
      else times.push(performance.now() - t);
    } catch {
      errors++;
    }
  }
  const s = summarize(times);
  return { n, p50Ms: s.p50, p99Ms: s.p99, errors };
}

/** Sends one request to each function's subject with its own reply subject, and counts the replies per function. */
async function askEach(nc: NatsConnection, n: number): Promise<{ answeredOnce: number; missing: number; duplicates: number; errors: number }> {
  const prefix = createInbox();
  const counts = new Uint32Array(n);
  let received = 0;
  let errors = 0;
  let allIn: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allIn = resolve));
  const sub = nc.subscribe(`${prefix}.*`, {
    callback: (_err: Error | null, m: Msg) => {
      const i = Number(m.subject.slice(prefix.length + 1));
      // An error reply is not an answer: the function must have run.
      if (m.headers?.get(Headers.NexErrorCode)) errors++;
      else if (Number.isInteger(i) && i >= 0 && i < n) counts[i]!++;
      if (++received >= n) allIn();
    },
  });
  await nc.flush();
  for (let i = 0; i < n; i++) {
    nc.publish(`bench.dense.${i}`, PAYLOAD, { reply: `${prefix}.${i}` });
    if (i % 100 === 99) await nc.flush();
  }
  await nc.flush();
  let timer: NodeJS.Timeout | undefined;
  // Every function wakes for its message: allow a few milliseconds each beyond the fixed wait.
  await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, Math.max(REPLY_WAIT_MS, n * 10))))]);
  clearTimeout(timer);
  await new Promise((r) => setTimeout(r, DUPLICATE_GRACE_MS));
  sub.unsubscribe();
  let answeredOnce = 0;
  let missing = 0;
  let duplicates = 0;
  for (const c of counts) {
    if (c === 1) answeredOnce++;
    else if (c === 0) missing++;
    else duplicates++;
  }
  return { answeredOnce, missing, duplicates, errors };
}
