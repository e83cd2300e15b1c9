/** `nex ls` and `nex stop`: the workloads across nodes. */
import { Command } from "commander";
import type { WorkloadSummary } from "../../contract/index.js";
import { action, globals, printJson, printTable, short, withClient } from "../common.js";

/** Prints workloads as a table (a crash loop shows in STATE, RESTARTS and LAST ERROR). */
export function printWorkloads(list: WorkloadSummary[]): void {
  if (list.length === 0) {
    process.stdout.write("no workloads\n");
    return;
  }
  printTable(
    ["NAME", "ID", "TYPE", "STATE", "NODE", "TRIGGERS", "CALLS", "FAILED", "RESTARTS", "EXIT", "LAST ERROR"],
    list.map((w) => [
      w.name,
      w.id,
      w.type,
      w.state,
      short(w.nodeId, 12),
      w.triggers.join(","),
      w.lifecycle === "function" ? w.invocations : "",
      w.lifecycle === "function" ? w.failures : "",
      w.restarts,
      w.exitCode ?? "",
      (w.lastError ?? "").slice(0, 80),
    ]),
  );
}

/** `nex ls` */
export function lsCommand(): Command {
  return new Command("ls")
    .alias("list")
    .description("list workloads across all nodes in the namespace")
    .option("--node <node>", "only this node")
    .option("--name <name>", "only workloads with this name")
    .action(
      action(async (f: { node?: string; name?: string }, cmd: Command) => {
        const list = await withClient(cmd, (c) => c.list({ node: f.node, name: f.name }));
        if (globals(cmd).json) return printJson(list);
        printWorkloads(list);
      }),
    );
}

/** `nex stop` */
export function stopCommand(): Command {
  return new Command("stop")
    .argument("<workload>", "workload name or id")
    .option("--node <node>", "only on this node")
    .description("stop a workload (every instance with that name, or the one id)")
    .action(
      action(async (sel: string, f: { node?: string }, cmd: Command) => {
        const stopped = await withClient(cmd, (c) => c.stop(sel, { node: f.node }));
        if (globals(cmd).json) return printJson(stopped);
        for (const s of stopped) process.stdout.write(`stopped ${s.name} (${s.id})\n`);
      }),
    );
}
