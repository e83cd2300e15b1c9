/** `nex logs` and `nex events`: recent history from the feed stream, then live with -f; filtered by time, stream, type and text. */
import { Command, Option } from "commander";
import { readEvents, readLogs } from "../../client/index.js";
import { EventType, NexError, SYSTEM_NAMESPACE, shortEventType, type LogStream, type NexEvent } from "../../contract/index.js";
import { action, collect, connectCli, globals, printJsonLine, regexFlag, timeFlag } from "../common.js";

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

/** The time window both commands take. */
interface WindowFlags {
  since: string;
  until?: string;
}

function window(f: WindowFlags): { since: Date; until?: Date } {
  const since = timeFlag(f.since, "--since");
  const until = f.until === undefined ? undefined : timeFlag(f.until, "--until");
  if (until && until.getTime() < since.getTime()) throw new NexError("NEX_E_INVALID_FIELD", "--until: is before --since");
  return until ? { since, until } : { since };
}

const TIME_HELP = "a duration back from now (30s, 5m, 1h) or an ISO time";

/** `nex logs` */
export function logsCommand(): Command {
  return new Command("logs")
    .argument("[workload]", "workload name (default: every workload in the namespace)")
    .option("-f, --follow", "keep printing new lines")
    .option("--id <id>", "only this instance")
    .addOption(new Option("--stream <stream>", "only stdout or only stderr").choices(["stdout", "stderr"]))
    .option("--grep <regex>", "only lines that match")
    .option("--since <time>", `where to start: ${TIME_HELP}`, "1h")
    .option("--until <time>", `where to stop: ${TIME_HELP}; with -f, following ends then`)
    .description("show a workload's console and stdout/stderr lines (--json: one JSON object per line)")
    .action(
      action(async (name: string | undefined, f: WindowFlags & { follow?: boolean; id?: string; stream?: LogStream; grep?: string }, cmd: Command) => {
        const g = globals(cmd);
        const grep = regexFlag(f.grep, "--grep");
        const times = window(f);
        const nc = await connectCli(cmd);
        const ac = stopOnSignal();
        try {
          for await (const l of readLogs(nc, g.namespace!, { name, id: f.id, stream: f.stream, grep, follow: f.follow, ...times, signal: ac.signal })) {
            if (g.json) printJsonLine(l);
            else process.stdout.write(`${hhmmss(l.time)} ${l.name}[${l.id.slice(-6)}] ${l.stream === "stderr" ? "ERR " : ""}${l.line}\n`);
          }
        } finally {
          await nc.close().catch(() => undefined);
        }
      }),
    );
}

const TYPES = Object.values(EventType) as string[];

/** `--type a,b --type c` → the types, each one checked. */
function eventTypes(list: string[]): string[] {
  const types = list.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
  for (const t of types) {
    if (!TYPES.includes(t)) throw new NexError("NEX_E_INVALID_FIELD", `--type: no event type ${JSON.stringify(t)}; the types are ${TYPES.join(", ")}`);
  }
  return types;
}

/** `nex events` */
export function eventsCommand(): Command {
  return new Command("events")
    .option("-f, --follow", "keep printing new events")
    .option("--type <types>", "only events of these types (comma-separated, repeatable), e.g. function_failed", collect, [])
    .option("--grep <regex>", "only events whose JSON matches")
    .option("--since <time>", `where to start: ${TIME_HELP}`, "1h")
    .option("--until <time>", `where to stop: ${TIME_HELP}; with -f, following ends then`)
    .option("--system", "the nodes' own events (started, lost, lame duck…); needs the control plane's credentials")
    .option("--heartbeats", "include node heartbeats (with --system)")
    .description("show lifecycle events (CloudEvents; --json: one event per line)")
    .action(
      action(async (f: WindowFlags & { follow?: boolean; type: string[]; grep?: string; system?: boolean; heartbeats?: boolean }, cmd: Command) => {
        const g = globals(cmd);
        const types = eventTypes(f.type);
        const grep = regexFlag(f.grep, "--grep");
        const times = window(f);
        const nc = await connectCli(cmd, f.system === true);
        const ac = stopOnSignal();
        const namespaces = f.system ? [SYSTEM_NAMESPACE] : [g.namespace!];
        const print = (ev: NexEvent): void => {
          const type = shortEventType(ev);
          if (type === "node_heartbeat" && !f.heartbeats && !types.includes(type)) return;
          if (g.json) return printJsonLine(ev);
          const d = { ...ev.data };
          delete d["nodeId"];
          process.stdout.write(`${hhmmss(new Date(ev.time))} ${ev.nexnamespace.padEnd(10)} ${type.padEnd(20)} ${ev.subject ?? ""} ${JSON.stringify(d)}\n`);
        };
        try {
          const history: NexEvent[] = [];
          await Promise.all(
            namespaces.map(async (ns) => {
              const opts = { follow: f.follow, types, grep, ...times, signal: ac.signal };
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
