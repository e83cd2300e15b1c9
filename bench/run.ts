/**
 * `npm run bench`: every workload type against raw NATS, side by side in one run. Starts its own nats-server and
 * nodes, prints the tables, and writes bench/results/latest.json and latest.md. `--quick` for a fast look.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NexClient } from "../src/client/index.js";
import { SECTIONS, USAGE, parseArgs, type BenchConfig, type Section } from "./lib/config.js";
import { BenchEnv, REPO_ROOT } from "./lib/env.js";
import { describeMachine } from "./lib/proc.js";
import { checkTargets, renderMarkdown, renderText } from "./lib/report.js";
import type { BenchResults } from "./lib/results.js";
import { MULTI_RUNNERS, buildGoEcho, deployAll, deployMultiRunnerJs, seedKv, type Row } from "./lib/workloads.js";
import { cliSuite, coldKinds, coldStartSuite } from "./suites/coldstart.js";
import { densitySuite } from "./suites/density.js";
import { designSuite } from "./suites/design.js";
import { latencySuite, throughputSuite } from "./suites/invocation.js";

/** The whole run may not take longer than this; then everything is stopped and the run fails. */
const WATCHDOG_MS = 60 * 60_000;

const DOCS_START = "<!-- bench:latest:start -->";
const DOCS_END = "<!-- bench:latest:end -->";

const progress = (s: string): void => void process.stderr.write(`· ${s}\n`);

async function run(cfg: BenchConfig, env: BenchEnv): Promise<BenchResults> {
  const has = (s: Section): boolean => cfg.sections.includes(s);
  const nc = await env.nc();
  const client = new NexClient(nc, { discoveryMs: 1_000 });
  const res: Omit<BenchResults, "targets"> = {
    date: new Date().toISOString(),
    quick: cfg.quick,
    machine: describeMachine(BenchEnv.natsServerBinary()),
    config: { ...cfg, outDir: undefined },
    latency: [],
    throughput: [],
    coldStart: [],
    cli: [],
    design: [],
  };
  if (has("latency") || has("throughput") || has("coldstart") || has("design")) {
    progress("building the Go echo service");
    const go = await buildGoEcho(env.dir).catch((err: Error) => ({ na: `the Go echo does not build: ${err.message}` }));
    progress("starting a node");
    const node = await env.node("main");
    await seedKv(nc);
    if (has("latency") || has("throughput") || has("design")) {
      progress("deploying the workloads");
      const rows: Row[] = await deployAll(env, nc, client, node.ready.id, go);
      if (has("latency")) res.latency = await latencySuite(nc, rows, cfg, progress);
      if (has("throughput")) res.throughput = await throughputRows(env, nc, client, rows, cfg);
      if (has("design")) res.design = await designSuite(env, nc, cfg, rows, progress);
      for (const r of rows) if (!("na" in r)) await r.stop();
    }
    if (has("coldstart")) {
      const kinds = coldKinds(go);
      res.coldStart = await coldStartSuite(nc, client, node.ready.id, kinds, cfg, progress);
      res.cli = await cliSuite(client, env.server.url, kinds, cfg, progress);
    }
    await env.stopChild(node);
  }
  if (has("density")) res.density = await densitySuite(env, nc, client, cfg, progress);
  return { ...res, targets: checkTargets(res) };
}

/**
 * Section 2's rows: the main node's, and the JS echo on a second node with MULTI_RUNNERS runners per namespace
 * (right after the single-runner JS echo), all in one round-robin.
 */
async function throughputRows(env: BenchEnv, nc: Awaited<ReturnType<BenchEnv["nc"]>>, client: NexClient, rows: Row[], cfg: BenchConfig): Promise<BenchResults["throughput"]> {
  progress(`starting a node with ${MULTI_RUNNERS} runners per namespace`);
  const multi = await env.node("multi", { types: ["v8"], runnersPerNamespace: MULTI_RUNNERS });
  try {
    const row = await deployMultiRunnerJs(nc, client, multi.ready.id);
    const at = rows.findIndex((r) => r.key === "js");
    const all = [...rows.slice(0, at + 1), row, ...rows.slice(at + 1)];
    const out = await throughputSuite(nc, all, cfg, progress);
    if (!("na" in row)) await row.stop();
    return out;
  } finally {
    await env.stopChild(multi);
  }
}

/** Replaces the latest-results block of docs/performance.md (only a full run's results belong there). */
function refreshDocs(md: string): boolean {
  const path = join(REPO_ROOT, "docs", "performance.md");
  if (!existsSync(path)) return false;
  const text = readFileSync(path, "utf8");
  const start = text.indexOf(DOCS_START);
  const end = text.indexOf(DOCS_END);
  if (start < 0 || end < start) return false;
  writeFileSync(path, `${text.slice(0, start + DOCS_START.length)}\n${md}${text.slice(end)}`);
  return true;
}

async function main(): Promise<number> {
  let cfg: BenchConfig;
  try {
    cfg = parseArgs(process.argv.slice(2), join(REPO_ROOT, "bench", "results"));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  if (process.argv.includes("--help")) {
    process.stdout.write(`${USAGE}\nsections: ${SECTIONS.join(", ")}\n`);
    return 0;
  }
  const env = await BenchEnv.start();
  const stopAll = async (code: number): Promise<never> => {
    await env.stop().catch(() => undefined);
    process.exit(code);
  };
  const watchdog = setTimeout(() => {
    process.stderr.write(`the benchmark ran past ${WATCHDOG_MS / 60_000} minutes; stopping\n`);
    void stopAll(3);
  }, WATCHDOG_MS);
  process.once("SIGINT", () => void stopAll(130));
  process.once("SIGTERM", () => void stopAll(143));
  try {
    const results = await run(cfg, env);
    process.stdout.write(`\n${renderText(results)}`);
    if (cfg.outDir) {
      mkdirSync(cfg.outDir, { recursive: true });
      writeFileSync(join(cfg.outDir, "latest.json"), `${JSON.stringify(results, null, 2)}\n`);
      const md = renderMarkdown(results);
      writeFileSync(join(cfg.outDir, "latest.md"), `# nex-ts benchmark results\n\n${md}`);
      const docs = !cfg.quick && cfg.sections.length === SECTIONS.length && refreshDocs(md);
      process.stderr.write(`wrote bench/results/latest.json and bench/results/latest.md${docs ? " and refreshed docs/performance.md" : ""}\n`);
    }
    return 0;
  } finally {
    clearTimeout(watchdog);
    await env.stop();
  }
}

process.exitCode = await main();
