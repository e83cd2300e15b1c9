/** `nex logs` and `nex events`: recent history from the feed stream, then live with -f. */
import { Command } from "commander";
import { readEvents, readLogs } from "../../client/index.js";
import { SYSTEM_NAMESPACE, shortEventType, type NexEvent } from "../../contract/index.js";
import { action, connectCli, globals, durationFlag, printJson } from "../common.js";

function hhmmss(d: Date): string {
  return d.toISOString().slice(11, 23);
}

function stopOnSignal(): AbortController {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return ac;
}

/** `nex logs` */
export function logsCommand(): Command {
  return new Command("logs")
    .argument("[workload]", "workload name (default: every workload in the namespace)")
    .option("-f, --follow", "keep printing new lines")
    .option("--id <id>", "only this instance")
    .option("--since <duration>", "how far back to start", "1h")
    .description("show a workload's console and stdout/stderr lines")
    .action(
      action(async (name: string | undefined, f: { follow?: boolean; id?: string; since: string }, cmd: Command) => {
        const g = globals(cmd);
        const nc = await connectCli(cmd);
        const ac = stopOnSignal();
        try {
          for await (const l of readLogs(nc, g.namespace!, { name, id: f.id, follow: f.follow, sinceMs: durationFlag(f.since, "--since"), signal: ac.signal })) {
            if (g.json) printJson(l);
            else process.stdout.write(`${hhmmss(l.time)} ${l.name}[${l.id.slice(-6)}] ${l.stream === "stderr" ? "ERR " : ""}${l.line}\n`);
          }
        } finally {
          await nc.close().catch(() => undefined);
        }
      }),
    );
}

/** `nex events` */
export function eventsCommand(): Command {
  return new Command("events")
    .option("-f, --follow", "keep printing new events")
    .option("--since <duration>", "how far back to start", "1h")
    .option("--system", "the nodes' own events (started, lost, lame duck…); needs the control plane's credentials")
    .option("--heartbeats", "include node heartbeats (with --system)")
    .description("show lifecycle events (CloudEvents)")
    .action(
      action(async (f: { follow?: boolean; since: string; system?: boolean; heartbeats?: boolean }, cmd: Command) => {
        const g = globals(cmd);
        const nc = await connectCli(cmd, f.system === true);
        const ac = stopOnSignal();
        const namespaces = f.system ? [SYSTEM_NAMESPACE] : [g.namespace!];
        const print = (ev: NexEvent): void => {
          const type = shortEventType(ev);
          if (type === "node_heartbeat" && !f.heartbeats) return;
          if (g.json) {
            process.stdout.write(JSON.stringify(ev) + "\n");
            return;
          }
          const d = { ...ev.data };
          delete d["nodeId"];
          process.stdout.write(`${hhmmss(new Date(ev.time))} ${ev.nexnamespace.padEnd(10)} ${type.padEnd(20)} ${ev.subject ?? ""} ${JSON.stringify(d)}\n`);
        };
        try {
          const history: NexEvent[] = [];
          await Promise.all(
            namespaces.map(async (ns) => {
              const opts = { follow: f.follow, sinceMs: durationFlag(f.since, "--since"), signal: ac.signal };
              // History is merged in time order; live events print as they arrive.
              for await (const ev of readEvents(nc, ns, opts)) {
                if (f.follow) print(ev);
                else history.push(ev);
              }
            }),
          );
          history.sort((a, b) => a.time.localeCompare(b.time)).forEach(print);
        } finally {
          await nc.close().catch(() => undefined);
        }
      }),
    );
}
