/** The run's targets, and its rendering as a text table (stdout) and Markdown (latest.md). */
import type { BenchResults, TargetCheck } from "./results.js";
import { fmtMiB, fmtMs, fmtRatio, fmtUs, mdTable, round, textTable } from "./stats.js";

const GiB = 1024 ** 3;

/** Checks every goal of the benchmark against a run. */
export function checkTargets(r: Omit<BenchResults, "targets">): TargetCheck[] {
  const out: TargetCheck[] = [];
  const lat = (key: string, goal: string, max: number): void => {
    const row = r.latency.find((x) => x.key === key);
    if (!row) return;
    if ("na" in row || row.ratioP50 === undefined) out.push({ goal, measured: "na" in row ? `n/a (${row.na})` : "n/a (no raw row)", ok: undefined });
    else out.push({ goal, measured: `${fmtRatio(row.ratioP50)} (${fmtUs(row.p50Us)})`, ok: row.ratioP50 <= max });
  };
  lat("js", "JS echo p50 ≤ 1.25× raw", 1.25);
  lat("wasm", "WASM echo p50 ≤ 1.5× raw", 1.5);
  lat("go", "Go service p50 ≤ 1.1× raw", 1.1);
  const thr = (key: string, goal: string, min: number): void => {
    const tp = r.throughput.find((x) => x.key === key);
    if (!tp) return;
    if ("na" in tp || tp.ratio === undefined) out.push({ goal, measured: "na" in tp ? `n/a (${tp.na})` : "n/a (no raw row)", ok: undefined });
    else out.push({ goal, measured: `${Math.round(tp.ratio * 100)}% (${Math.round(tp.rps)} req/s)`, ok: tp.ratio >= min });
  };
  thr("js", "JS echo throughput ≥ 75% of raw", 0.75);
  thr("js2", "JS echo throughput, 2 runners per namespace, ≥ 75% of raw", 0.75);
  thr("wasm", "WASM echo throughput ≥ 50% of raw", 0.5);
  const kvAsync = r.throughput.find((x) => x.key === "jsKvAsync");
  const kvClient = r.throughput.find((x) => x.key === "kvClient");
  if (kvAsync && kvClient) {
    const goal = "JS KV get, async, ≥ 50% of a plain client's kv.get (50 in flight)";
    if ("na" in kvAsync || "na" in kvClient) out.push({ goal, measured: `n/a (${"na" in kvAsync ? kvAsync.na : "na" in kvClient ? kvClient.na : ""})`, ok: undefined });
    else {
      const ratio = kvAsync.rps / kvClient.rps;
      out.push({ goal, measured: `${Math.round(ratio * 100)}% (${Math.round(kvAsync.rps)} of ${Math.round(kvClient.rps)} req/s)`, ok: ratio >= 0.5 });
    }
  }
  for (const [key, label, max] of [["js", "JS", 15], ["wasm", "WASM", 15], ["native", "native", 100]] as const) {
    const row = r.coldStart.find((x) => x.key === key);
    if (!row) continue;
    const goal = `cold start ${label} p50 ≤ ${max} ms (deploy request → first reply)`;
    if ("na" in row) out.push({ goal, measured: `n/a (${row.na})`, ok: undefined });
    else out.push({ goal, measured: `${fmtMs(row.p50Ms)} (node share ${fmtMs(row.nodeP50Ms)})`, ok: row.p50Ms <= max });
  }
  const d = r.density;
  if (d) {
    const goal = "10,000 JS functions < 4 GiB RSS (node + runners)";
    const wakeGoal = "first call after eviction p50 < 5 ms";
    if ("na" in d) {
      out.push({ goal, measured: `n/a (${d.na})`, ok: undefined });
      out.push({ goal: wakeGoal, measured: `n/a (${d.na})`, ok: undefined });
    } else {
      const allOnce = d.missing === 0 && d.duplicates === 0 && d.errors === 0;
      if (d.functions >= 10_000) out.push({ goal, measured: fmtMiB(d.rssAfterBytes), ok: d.rssAfterBytes < 4 * GiB && allOnce });
      else {
        const projected = d.rssBeforeBytes + d.rssPerFunctionBytes * 10_000;
        out.push({ goal, measured: `${fmtMiB(projected)} projected from ${d.functions} functions`, ok: projected < 4 * GiB && allOnce });
      }
      out.push({ goal: wakeGoal, measured: `${fmtMs(d.wake.p50Ms)} (p99 ${fmtMs(d.wake.p99Ms)}, ${d.wake.n} functions)`, ok: d.wake.p50Ms < 5 && d.wake.errors === 0 });
    }
  }
  return out;
}

type Table = { title: string; head: string[]; rows: string[][]; note?: string };

function na(s: string): string {
  return `n/a (${s.length > 120 ? `${s.slice(0, 117)}…` : s})`;
}

/** The run as tables (shared by the text and Markdown renderings). */
function tables(r: BenchResults): Table[] {
  const out: Table[] = [];
  out.push({
    title: `1. Invocation latency (${r.config["latencyRequests"]} sequential requests after ${r.config["warmupRequests"]} warm-up)`,
    head: ["workload", "p50", "p99", "p50 / raw", "errors"],
    rows: r.latency.map((x) => ("na" in x ? [x.name, na(x.na), "", "", ""] : [x.name, fmtUs(x.p50Us), fmtUs(x.p99Us), fmtRatio(x.ratioP50), String(x.errors)])),
  });
  out.push({
    title: `2. Throughput (${r.config["requesters"]} concurrent requesters, ${r.config["throughputSeconds"]} s)`,
    head: ["workload", "req/s", "of raw", "errors"],
    rows: r.throughput.map((x) => ("na" in x ? [x.name, na(x.na), "", ""] : [x.name, String(Math.round(x.rps)), x.ratio === undefined ? "-" : `${Math.round(x.ratio * 100)}%`, String(x.errors)])),
    note: kvNote(r),
  });
  out.push({
    title: `3. Cold start (deploy request → first good reply, ${r.config["coldStarts"]} deploys each; CLI: ${r.config["cliRuns"]} runs)`,
    head: ["workload", "p50", "p99", "node share p50", "node share p99", "CLI devrun + req p50", "CLI p99"],
    rows: r.coldStart.map((x) => {
      const cli = r.cli.find((c) => c.key === x.key);
      const c = !cli ? ["-", "-"] : "na" in cli ? [na(cli.na), ""] : [fmtMs(cli.p50Ms), fmtMs(cli.p99Ms)];
      return "na" in x ? [x.name, na(x.na), "", "", "", ...c] : [x.name, fmtMs(x.p50Ms), fmtMs(x.p99Ms), fmtMs(x.nodeP50Ms), fmtMs(x.nodeP99Ms), ...c];
    }),
    note: r.cli.find((c) => !("na" in c)) ? `The CLI ran from ${(r.cli.find((c) => !("na" in c)) as { runsFrom: string }).runsFrom}; its time includes two Node process starts, the auction and the replace check.` : undefined,
  });
  const d = r.density;
  if (d) {
    out.push({
      title: "4. Density (JS functions on one node, each on its own subject)",
      head: ["measure", "value"],
      rows:
        "na" in d
          ? [["density", na(d.na)]]
          : [
              ["functions", `${d.functions} (idle eviction after ${fmtMs(d.idleEvictMs)})`],
              ["deploy time (sequential)", `${round(d.deploySeconds, 1)} s (p50 ${fmtMs(d.deployP50Ms)}, p99 ${fmtMs(d.deployP99Ms)} per deploy)`],
              ["deploy p50, first and last tenth", `${fmtMs(d.deployFirstP50Ms)} → ${fmtMs(d.deployLastP50Ms)}`],
              ["RSS node + runners, before", fmtMiB(d.rssBeforeBytes)],
              ["RSS node + runners, right after the deploys", fmtMiB(d.rssDeployedBytes)],
              ["RSS node + runners, all idle", `${fmtMiB(d.rssAfterBytes)} (${d.processes} processes; all idle ${round(d.evictedAfterSeconds, 1)} s after the last deploy)`],
              ["RSS per function, idle", `${round(d.rssPerFunctionBytes / 1024, 0)} KiB`],
              ["first call after eviction, one at a time", `p50 ${fmtMs(d.wake.p50Ms)}, p99 ${fmtMs(d.wake.p99Ms)} (${d.wake.n} functions, 50 ms apart, ${d.wake.errors} errors)`],
              ["first call after eviction, back to back", `p50 ${fmtMs(d.wakeBackToBack.p50Ms)}, p99 ${fmtMs(d.wakeBackToBack.p99Ms)} (${d.wakeBackToBack.n} other functions, ${d.wakeBackToBack.errors} errors)`],
              ["answered exactly once, all waking at once", `${d.answeredOnce} / ${d.functions} (missing ${d.missing}, duplicated ${d.duplicates}, errors ${d.errors}) in ${round(d.askSeconds, 1)} s`],
            ],
    });
  }
  if (r.design.length > 0) {
    out.push({
      title: "5. Design choices: the JS echo built per call or once",
      head: ["way", "p50", "p99", "p50 / raw", "req/s"],
      rows: r.design.map((x) => ("na" in x ? [x.name, na(x.na), "", "", ""] : [x.name, fmtUs(x.p50Us), fmtUs(x.p99Us), fmtRatio(x.ratioP50), rpsText(x.rps, x.throughputErrors)])),
    });
  }
  out.push({
    title: "Targets",
    head: ["goal", "measured", ""],
    rows: r.targets.map((t) => [t.goal, t.measured, t.ok === undefined ? "-" : t.ok ? "✓" : "✗"]),
  });
  return out;
}

/** The KV rows against the plain client's kv.get, the limit a function doing one KV get is held to. */
function kvNote(r: BenchResults): string | undefined {
  const limit = r.throughput.find((x) => x.key === "kvClient");
  if (!limit || "na" in limit) return undefined;
  const parts = r.throughput
    .filter((x) => (x.key === "jsKv" || x.key === "jsKvAsync") && !("na" in x))
    .map((x) => {
      const ratio = (x as { rps: number }).rps / limit.rps;
      return `${x.name}: ${Math.round(ratio * 100)}% of the plain client's kv.get${x.key === "jsKvAsync" ? ` ${ratio >= 0.5 ? "✓" : "✗"} (goal ≥ 50%)` : ""}`;
    });
  return parts.length > 0 ? parts.join("; ") : undefined;
}

function rpsText(rps: number, errors: number | undefined): string {
  if (!Number.isFinite(rps)) return "-";
  return errors ? `${Math.round(rps)} (${errors} errors)` : String(Math.round(rps));
}

function machineLine(r: BenchResults): string {
  const m = r.machine;
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}; nats-server ${m.natsServer}; ${r.date}${r.quick ? " (--quick)" : ""}`;
}

/** The run as plain text for the terminal. */
export function renderText(r: BenchResults): string {
  const parts = [`nex-ts benchmark: ${machineLine(r)}`];
  for (const t of tables(r)) parts.push(`${t.title}\n${textTable(t.head, t.rows)}${t.note ? `\n${t.note}` : ""}`);
  return `${parts.join("\n\n")}\n`;
}

/** The run as Markdown (latest.md, and the docs page). */
export function renderMarkdown(r: BenchResults): string {
  const parts = [`Measured on ${machineLine(r)}.`];
  for (const t of tables(r)) parts.push(`**${t.title}**\n\n${mdTable(t.head, t.rows)}${t.note ? `\n\n${t.note}` : ""}`);
  return `${parts.join("\n\n")}\n`;
}
