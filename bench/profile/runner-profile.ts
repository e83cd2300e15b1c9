/**
 * A CPU profile of the v8 runner while the JS echo is under load (50 concurrent requesters): the node runs with a
 * preloaded profiler in NODE_OPTIONS, which its runner inherits; the runner's profile is summed by function (self time).
 * Run: node --no-node-snapshot --import tsx bench/profile/runner-profile.ts [seconds] [--keep]
 * With --keep, the .cpuprofile files stay in bench/results/profiles/ (open them in Chrome DevTools).
 */
import { cpSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { NexClient } from "../../src/client/index.js";
import { BenchEnv, REPO_ROOT } from "../lib/env.js";
import { measureThroughput } from "../lib/load.js";
import { textTable } from "../lib/stats.js";
import { ARTIFACTS, PAYLOAD, expectJsEcho, fileArtifact } from "../lib/workloads.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const seconds = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 5);
const keep = process.argv.includes("--keep");
const env = await BenchEnv.start();
try {
  const profDir = join(env.dir, "profiles");
  mkdirSync(profDir);
  const node = await env.node("profiled", { types: ["v8"] }, {
    ...process.env,
    NODE_OPTIONS: `${process.env["NODE_OPTIONS"] ?? ""} --import=${pathToFileURL(join(REPO_ROOT, "bench", "profile", "cpu-prof-preload.mjs")).href}`,
    NEX_BENCH_PROF_DIR: profDir,
  });
  const nc = await env.nc();
  const client = new NexClient(nc);
  await client.deploy({ name: "echo", type: "v8", triggers: ["bench.echo"], ...fileArtifact(ARTIFACTS.jsEcho) }, { node: node.ready.id });
  const r = await measureThroughput(nc, { subject: "bench.echo", payload: new TextEncoder().encode(PAYLOAD), check: expectJsEcho("bench.echo") }, 50, seconds);
  process.stdout.write(`JS echo under load: ${Math.round(r.rps)} req/s, ${r.errors} errors\n`);
  await env.stopChild(node);
  const files = readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile"));
  // The runner is the process that ran isolated-vm: its profile has the invoke path in it.
  const profiles = files.map((f) => ({ f, p: JSON.parse(readFileSync(join(profDir, f), "utf8")) as Profile }));
  const runner = profiles.find(({ p }) => p.nodes.some((n) => n.callFrame.functionName === "onMessage" && n.callFrame.url.includes("triggers")));
  if (!runner) throw new Error(`no runner profile among ${files.join(", ")}`);
  process.stdout.write(`${summarize(runner.p)}\n`);
  if (keep) {
    const out = join(REPO_ROOT, "bench", "results", "profiles");
    mkdirSync(out, { recursive: true });
    for (const f of files) cpSync(join(profDir, f), join(out, f));
    process.stdout.write(`profiles kept in ${relative(process.cwd(), out)}\n`);
  }
} finally {
  await env.stop();
}

/** Self time per function, the top 25, as a table. */
function summarize(p: Profile): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const file = f.url ? f.url.replace(/^file:\/\//, "").replace(REPO_ROOT, "").replace(/^.*node_modules\//, "") : "";
    const key = `${f.functionName || "(anonymous)"} ${file}${file ? `:${f.lineNumber + 1}` : ""}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
  }
  const rows = [...byFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25);
  return textTable(["function (self time)", "ms", "%"], rows.map(([k, us]) => [k.slice(0, 110), (us / 1000).toFixed(0), ((us / total) * 100).toFixed(1)]));
}
