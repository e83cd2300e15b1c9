/**
 * Section 4: density. A fresh node in its own process deploys N JS functions, each on its own subject; the node's
 * RSS together with its runner processes is read before and after, and every function must answer exactly once.
 */
import { createInbox, type Msg, type NatsConnection } from "@nats-io/nats-core";
import type { NexClient } from "../../src/client/index.js";
import type { BenchConfig } from "../lib/config.js";
import type { BenchEnv } from "../lib/env.js";
import { treeRss } from "../lib/proc.js";
import type { DensityResult, NotAvailable } from "../lib/results.js";
import { summarize } from "../lib/stats.js";
import { ARTIFACTS, PAYLOAD, fileArtifact } from "../lib/workloads.js";

/** How long the last replies may take after the last request, and how long we listen for duplicates after that. */
const REPLY_WAIT_MS = 15_000;
const DUPLICATE_GRACE_MS = 500;

/** Runs the density section on a node of its own. */
export async function densitySuite(env: BenchEnv, nc: NatsConnection, client: NexClient, cfg: BenchConfig, progress: (s: string) => void): Promise<DensityResult | NotAvailable> {
  progress(`density: starting a node for ${cfg.densityFunctions} functions`);
  const node = await env.node("density", { types: ["v8"], warmRunners: true });
  try {
    // Let the warm runner finish starting before the baseline is taken.
    await new Promise((r) => setTimeout(r, 1_000));
    const before = treeRss(node.pid);
    const art = fileArtifact(ARTIFACTS.jsEcho);
    const times: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < cfg.densityFunctions; i++) {
      if (i % 100 === 0) progress(`density: deploying ${i}/${cfg.densityFunctions}`);
      const t = performance.now();
      try {
        await client.deploy({ name: `dense-${i}`, type: "v8", triggers: [`bench.dense.${i}`], ...art }, { node: node.ready.id });
      } catch (err) {
        return { na: `deploy ${i} failed: ${(err as Error).message}` };
      }
      times.push(performance.now() - t);
    }
    const deploySeconds = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 1_000));
    const after = treeRss(node.pid);
    progress("density: checking that each function answers once");
    const answers = await askEach(nc, cfg.densityFunctions);
    const d = summarize(times);
    return {
      functions: cfg.densityFunctions,
      deploySeconds,
      deployP50Ms: d.p50,
      deployP99Ms: d.p99,
      rssBeforeBytes: before.bytes,
      rssAfterBytes: after.bytes,
      rssPerFunctionBytes: (after.bytes - before.bytes) / cfg.densityFunctions,
      processes: after.processes,
      ...answers,
    };
  } finally {
    progress("density: stopping the node");
    await env.stopChild(node);
  }
}

/** Sends one request to each function's subject with its own reply subject, and counts the replies per function. */
async function askEach(nc: NatsConnection, n: number): Promise<{ answeredOnce: number; missing: number; duplicates: number }> {
  const prefix = createInbox();
  const counts = new Uint32Array(n);
  let received = 0;
  let allIn: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allIn = resolve));
  const sub = nc.subscribe(`${prefix}.*`, {
    callback: (_err: Error | null, m: Msg) => {
      const i = Number(m.subject.slice(prefix.length + 1));
      if (Number.isInteger(i) && i >= 0 && i < n) counts[i]!++;
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
  await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, REPLY_WAIT_MS)))]);
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
  return { answeredOnce, missing, duplicates };
}
