/** `nex ls` and `nex stop`: desired against actual state, across nodes. */
import { Command } from "commander";
import type { WorkloadStatus } from "../../client/index.js";
import { NexError, type WorkloadSummary } from "../../contract/index.js";
import { action, globals, printJson, printTable, short, withClient } from "../common.js";

/** Prints instances as a table (a crash loop shows in STATE, RESTARTS and LAST ERROR). */
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

/** Prints each desired workload with the replicas it wants, the replicas that run, and where. */
function printDesired(st: WorkloadStatus): void {
  if (st.desired.length === 0) return;
  process.stdout.write("\n");
  printTable(
    ["WORKLOAD", "WANTED", "RUNNING", "WHERE", "GEN", "NOTE"],
    st.desired.map((d) => {
      const running = st.instances.filter((i) => i.name === d.name && i.generation === d.generation && ["running", "idle", "starting", "backoff"].includes(i.state));
      const notes: string[] = [];
      if (d.done) notes.push(`job done, exit code ${d.done.exitCode}`);
      else if (running.length < d.replicas) notes.push("placing…");
      else if (running.length > d.replicas) notes.push("removing extras…");
      if (d.durable) notes.push(`durable: ${d.durable.join(",")}`);
      if (d.schedule) notes.push(`${d.schedule}, next ${d.nextRun ?? "never"}${d.skippedTicks ? `, ${d.skippedTicks} skipped` : ""}`);
      const note = notes.join("; ");
      return [d.name, d.done ? "-" : d.replicas, running.length, [...new Set(running.map((i) => short(i.nodeId, 10)))].join(","), d.generation, note];
    }),
  );
}

/** `nex ls` */
export function lsCommand(): Command {
  return new Command("ls")
    .alias("list")
    .description("list workloads across all nodes in the namespace: what should run, what runs, and where")
    .option("--node <node>", "only this node")
    .option("--name <name>", "only workloads with this name")
    .option("--desired", "with --json: print what should run (replicas, durable triggers, schedules and their next run) instead of the instances")
    .action(
      action(async (f: { node?: string; name?: string; desired?: boolean }, cmd: Command) => {
        const st = await withClient(cmd, (c) => c.status({ node: f.node, name: f.name }));
        if (globals(cmd).json) printJson(f.desired ? st.desired : st.instances);
        else {
          printWorkloads(st.instances);
          printDesired(st);
        }
        // A listing that could not reach a node that should answer is not a complete answer.
        if (st.missingNodes.length > 0) {
          throw new NexError("NEX_E_TIMEOUT", `${st.missingNodes.length} node(s) did not answer: ${st.missingNodes.map((n) => short(n, 12)).join(", ")}`, {
            hint: "The listing is incomplete; `nex node ls` shows which nodes answer.",
          });
        }
        if (st.answered === 0) throw new NexError("NEX_E_NO_NODES", "no node answered", { hint: "Start a node (`nex node up` or `nex up`)." });
      }),
    );
}

/** `nex stop` */
export function stopCommand(): Command {
  return new Command("stop")
    .argument("<workload>", "workload name (every instance, everywhere) or instance id (that one; a desired workload gets a replacement)")
    .option("--node <node>", "only on this node")
    .option("--delete-stream", "durable functions: also delete the trigger stream and the messages waiting in it")
    .option("--keep-stream", "durable functions: keep the trigger stream and its waiting messages for the next deploy (the default)")
    .description("stop a workload")
    .action(
      action(async (sel: string, f: { node?: string; deleteStream?: boolean; keepStream?: boolean }, cmd: Command) => {
        if (f.deleteStream && f.keepStream) throw new NexError("NEX_E_INVALID_FIELD", "--delete-stream and --keep-stream contradict each other");
        const reply = await withClient(cmd, (c) => c.stop(sel, { node: f.node, deleteStream: f.deleteStream }));
        if (globals(cmd).json) return printJson(reply);
        for (const s of reply.stopped) process.stdout.write(`stopped ${s.name} (${s.id})\n`);
        if (reply.keptStream) {
          process.stdout.write(
            `kept ${reply.keptStream.stream} with ${reply.keptStream.messages} waiting message(s): a durable deploy of ${sel} processes them; \`nex stop ${sel} --delete-stream\` drops them\n`,
          );
        }
        if (reply.deletedStream) process.stdout.write(`deleted ${reply.deletedStream}\n`);
      }),
    );
}
