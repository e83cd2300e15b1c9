/**
 * Prices single steps of the JS invocation path end to end, through NATS: raw echo, the real nex-ts JS echo, and the
 * bench runner's reused isolate with one step changed at a time, measured in turns (latency, then throughput).
 * Run: node --no-node-snapshot --import tsx bench/profile/ablation.ts [--quick]
 */
import { NexClient } from "../../src/client/index.js";
import { parseArgs } from "../lib/config.js";
import { BenchEnv } from "../lib/env.js";
import { textTable, fmtUs } from "../lib/stats.js";
import { ARTIFACTS, PAYLOAD, expectJsEcho, expectText, fileArtifact, type Row } from "../lib/workloads.js";
import { latencySuite, throughputSuite } from "../suites/invocation.js";

const cfg = parseArgs(process.argv.slice(2).filter((a) => a === "--quick"), "");
const env = await BenchEnv.start();
try {
  const nc = await env.nc();
  const client = new NexClient(nc);
  const node = await env.node("ablation", { types: ["v8"] });
  await client.deploy({ name: "echo", type: "v8", triggers: ["bench.js"], ...fileArtifact(ARTIFACTS.jsEcho) }, { node: node.ready.id });
  const payload = new TextEncoder().encode(PAYLOAD);
  const noop = async (): Promise<void> => undefined;
  await env.responder("raw", "bench.raw");
  const rows: Row[] = [
    { name: "raw NATS echo", key: "raw", target: { subject: "bench.raw", payload, check: expectText(PAYLOAD) }, stop: noop },
    { name: "nex-ts JS echo (engine today)", key: "js", target: { subject: "bench.js", payload, check: expectJsEcho("bench.js") }, stop: noop },
  ];
  for (const mode of ["raw-deferred", "raw-batched"]) {
    await env.responder(mode, `bench.${mode}`);
    rows.push({ name: `${mode} echo`, key: mode, target: { subject: `bench.${mode}`, payload, check: expectText(PAYLOAD) }, stop: noop });
  }
  const variants = [
    { key: "v-today", name: "bench runner: ivm timeout + console.log published", knobs: { ivmTimeout: true } },
    { key: "v-nolog", name: "… console.log a no-op", knobs: { ivmTimeout: true, quiet: true } },
    { key: "v-notimeout", name: "… no ivm timeout option", knobs: { ivmTimeout: false } },
    { key: "v-neither", name: "… neither", knobs: { ivmTimeout: false, quiet: true } },
    { key: "v-batch", name: "… messages batched into one call (timeout + log kept)", knobs: { ivmTimeout: true, batch: true } },
  ];
  for (const v of variants) {
    const subject = `bench.${v.key}`;
    await env.responder("reuse", subject, v.knobs);
    rows.push({ name: v.name, key: v.key, target: { subject, payload, check: expectJsEcho(subject) }, stop: noop });
  }
  const say = (s: string): void => void process.stderr.write(`· ${s}\n`);
  const lat = await latencySuite(nc, rows, cfg, say);
  const tp = await throughputSuite(nc, rows, cfg, say);
  const out = lat.map((l) => {
    const t = tp.find((x) => x.key === l.key);
    if ("na" in l || !t || "na" in t) return [l.name, "n/a", "", "", ""];
    return [l.name, fmtUs(l.p50Us), fmtUs(l.p99Us), String(Math.round(t.rps)), `${Math.round((t.ratio ?? NaN) * 100)}%`];
  });
  process.stdout.write(`${textTable(["path", "p50", "p99", "req/s", "of raw"], out)}\n`);
} finally {
  await env.stop();
}
