/** Helpers for native workload tests: build the Go echo example, deploy files, find a workload's processes. */
import { execFile, execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import type { NexClient } from "../../src/client/index.js";
import { subjects, type DeployRequest, type NexEvent, type WorkloadSummary } from "../../src/contract/index.js";
import { check, REPO_ROOT } from "../../src/testkit/index.js";

const run = promisify(execFile);

/** Builds examples/go/echo into `dir` with the example's own build script; returns the binary's path. */
export async function buildGoEcho(dir: string): Promise<string> {
  const out = join(dir, "echo");
  // A shared build cache makes the second test file's build take a second instead of ten.
  const env = { ...process.env, GOCACHE: join(tmpdir(), "nex-test-gocache") };
  await run("bash", [join(REPO_ROOT, "examples", "go", "build.sh"), out], { env, timeout: 180_000 });
  return out;
}

/** Deploys a file on the local disk as a native workload on one node. */
export async function deployFile(
  client: NexClient,
  node: string,
  name: string,
  file: string,
  extra: Partial<DeployRequest> = {},
): Promise<string> {
  const r = await client.deploy({ name, type: "native", location: `file://${file}`, ...extra }, { node });
  return r.id;
}

/** The one workload called `name`, as `nex ls` sees it. */
export async function summary(client: NexClient, name: string): Promise<WorkloadSummary | undefined> {
  return (await client.list({ name }))[0];
}

/** Live (non-zombie) host processes whose command line or environment mentions `needle` (a workload id). */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z") continue;
      const text = readFileSync(`/proc/${name}/cmdline`, "latin1") + readFileSync(`/proc/${name}/environ`, "latin1");
      if (text.includes(needle)) out.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Collects every log line of one workload name (stdout and stderr). */
export class LogCollector {
  readonly lines: { stream: string; line: string }[] = [];
  private readonly sub: Subscription;

  constructor(nc: NatsConnection, ns: string, name: string) {
    this.sub = nc.subscribe(subjects.logsFilter(ns, name), {
      callback: (_err: Error | null, m: Msg): void => {
        this.lines.push({ stream: m.subject.split(".").pop() ?? "", line: m.string() });
      },
    });
  }

  /** The lines so far, joined. */
  text(): string {
    return this.lines.map((l) => l.line).join("\n");
  }

  /** Waits until a line matches. */
  async waitFor(re: RegExp, timeoutMs = 15_000): Promise<string> {
    return check(() => this.lines.find((l) => re.test(l.line))?.line, timeoutMs);
  }

  close(): void {
    this.sub.unsubscribe();
  }
}

/** Collects the CloudEvents of one namespace. */
export class EventCollector {
  readonly events: NexEvent[] = [];
  private readonly sub: Subscription;

  constructor(nc: NatsConnection, ns: string) {
    this.sub = nc.subscribe(subjects.eventsFilter(ns), {
      callback: (_err: Error | null, m: Msg): void => {
        this.events.push(m.json<NexEvent>());
      },
    });
  }

  /** Events of one type about one workload. */
  of(type: string, workloadId?: string): NexEvent[] {
    return this.events.filter((e) => e.type === `io.nex.${type}` && (workloadId === undefined || e.subject === workloadId));
  }

  close(): void {
    this.sub.unsubscribe();
  }
}

/** The cgroup directories nex created for a workload (they must all be gone after it stops). */
export function cgroupDirsOf(workloadId: string): string[] {
  const out: string[] = [];
  const mounts = readFileSync("/proc/self/mounts", "utf8").split("\n").map((l) => l.split(" "));
  for (const m of mounts) {
    if (m[2] !== "cgroup" && m[2] !== "cgroup2") continue;
    out.push(...findDirs(m[1]!, workloadId, 4));
  }
  return out;
}

function findDirs(dir: string, name: string, depth: number): string[] {
  if (depth < 0) return [];
  let entries: string[];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    if (e === name) out.push(join(dir, e));
    else out.push(...findDirs(join(dir, e), name, depth - 1));
  }
  return out;
}

/** CPU time (user + system, in seconds) the processes mentioning `workloadId` have used so far. */
export function cpuSecondsOf(workloadId: string): number {
  const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  let sum = 0;
  for (const pid of processesMentioning(workloadId)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // Fields after the command name (which may hold spaces): state is the first, utime the 12th, stime the 13th.
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      sum += (Number(f[11]) + Number(f[12])) / ticks;
    } catch {
      // exited while we looked
    }
  }
  return sum;
}
