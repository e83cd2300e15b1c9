/** `nex inspect`: one workload in full: its spec, where it runs, its recent invocations and its last errors. */
import { Command } from "commander";
import type { WorkloadInspection, WorkloadSpec } from "../../contract/index.js";
import { action, globals, intFlag, printJson, printTable, short, withClient } from "../common.js";

function hhmmss(iso: string): string {
  return iso.slice(11, 23);
}

function ms(v: number | undefined): string {
  if (v === undefined) return "";
  return v < 1 ? `${Math.round(v * 1000)} µs` : `${Math.round(v * 100) / 100} ms`;
}

/** The spec as FIELD / VALUE rows (env values come masked from the node). */
function specRows(s: WorkloadSpec): (string | number)[][] {
  const rows: (string | number)[][] = [
    ["type", `${s.type} (${s.lifecycle})`],
    ["location", s.location],
    ["sha256", s.sha256 ?? ""],
  ];
  if (s.triggers.length > 0) rows.push(["triggers", s.triggers.join(", ")]);
  if (s.lifecycle === "function") rows.push(["timeout", `${s.timeoutMs} ms`]);
  else rows.push(["restart", s.restart]);
  rows.push(["memory", `${s.memoryLimitMiB} MiB`]);
  if (s.argv.length > 0) rows.push(["argv", s.argv.join(" ")]);
  const env = Object.entries(s.env);
  if (env.length > 0) rows.push(["env", env.map(([k, v]) => `${k}=${v}`).join(" ")]);
  const tags = Object.entries(s.tags);
  if (tags.length > 0) rows.push(["tags", tags.map(([k, v]) => `${k}=${v}`).join(" ")]);
  if (s.description) rows.push(["description", s.description]);
  rows.push(["created", s.createdAt]);
  return rows;
}

function printInspection(list: WorkloadInspection[], invocations: number): void {
  const first = list[0]!;
  process.stdout.write(`${first.name} in namespace ${first.namespace}\n\n`);
  printTable(["FIELD", "VALUE"], specRows(first.spec));
  process.stdout.write("\nINSTANCES\n");
  printTable(
    ["NODE", "ID", "STATE", "STARTED", "RESTARTS", "CALLS", "FAILED", "P50", "P99", "LAST ERROR"],
    list.map((w) => [
      short(w.nodeId, 12),
      w.id,
      w.state,
      w.startedAt,
      w.restarts,
      w.lifecycle === "function" ? w.invocations : "",
      w.lifecycle === "function" ? w.failures : "",
      ms(w.latencyMs?.p50),
      ms(w.latencyMs?.p99),
      (w.lastError ?? "").slice(0, 80),
    ]),
  );
  if (first.lifecycle !== "function") return;
  const calls = list
    .flatMap((w) => w.recentInvocations.map((r) => ({ ...r, id: w.id })))
    .sort((a, b) => a.time.localeCompare(b.time))
    .slice(-invocations);
  process.stdout.write(`\nRECENT INVOCATIONS (${calls.length}, newest last)\n`);
  if (calls.length === 0) process.stdout.write("none\n");
  else printTable(["TIME", "INSTANCE", "SUBJECT", "DURATION", "OUTCOME"], calls.map((c) => [hhmmss(c.time), c.id.slice(-6), c.subject, ms(c.durationMs), c.outcome]));
  const errors = list.flatMap((w) => w.recentErrors.map((e) => ({ ...e, id: w.id }))).sort((a, b) => a.time.localeCompare(b.time));
  process.stdout.write(`\nRECENT ERRORS (${errors.length}, newest last)\n`);
  if (errors.length === 0) process.stdout.write("none\n");
  for (const e of errors) {
    process.stdout.write(`${hhmmss(e.time)} [${e.id.slice(-6)}] ${e.subject ?? ""} ${e.code}: ${e.message}\n`);
    if (e.stack) process.stdout.write(`${e.stack.split("\n").map((l) => `    ${l}`).join("\n")}\n`);
  }
}

/** `nex inspect` */
export function inspectCommand(): Command {
  return new Command("inspect")
    .argument("<workload>", "workload name or id")
    .option("--node <node>", "only the instance on this node")
    .option("--invocations <n>", "how many recent invocations to show", "20")
    .description("show one workload: its spec (env values masked), its instances, recent invocations and last errors")
    .action(
      action(async (sel: string, f: { node?: string; invocations: string }, cmd: Command) => {
        const n = intFlag(f.invocations, "--invocations")!;
        const list = await withClient(cmd, (c) => c.inspect(sel, { node: f.node }));
        if (globals(cmd).json) return printJson(list);
        printInspection(list, n);
      }),
    );
}
