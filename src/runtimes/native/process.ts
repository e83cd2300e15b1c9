/**
 * Supervises one native workload: spawns it, pipes its output to the log line by line, applies the restart
 * policy with capped exponential backoff, and stops the whole process tree (SIGTERM, grace, SIGKILL).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { constants } from "node:os";
import { NexError, type WorkloadSpec } from "../../contract/index.js";
import type { RuntimeHost, WorkloadHandle, WorkloadStats } from "../runtime.js";
import type { WorkloadLimits } from "./cgroups.js";
import { LineSplitter } from "./lines.js";
import type { LaunchCommand } from "./sandbox.js";
import { descendants, signal } from "./tree.js";

/** Timing of the supervisor. */
export interface SupervisorOptions {
  /** Time between SIGTERM and SIGKILL on stop. */
  graceMs: number;
  /** First restart delay; it doubles with each consecutive failure. */
  backoffBaseMs: number;
  /** Cap on the restart delay. */
  backoffMaxMs: number;
  /** A run at least this long resets the backoff. */
  stableMs: number;
}

/** Default supervisor timing. */
export const SUPERVISOR_DEFAULTS: SupervisorOptions = { graceMs: 5_000, backoffBaseMs: 250, backoffMaxMs: 30_000, stableMs: 10_000 };

/** Delay before restart number `attempt` (1-based) of a crash loop. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

/** The exit code a shell would report: the code, or 128 + the signal number. */
export function exitCodeOf(code: number | null, sig: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return sig ? 128 + (constants.signals[sig] ?? 0) : -1;
}

function describeExit(code: number, memoryMiB: number, oom: boolean): string {
  if (oom) return `killed by the kernel: out of memory (limit ${memoryMiB} MiB)`;
  if (code > 128 && code < 160) {
    const name = Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0];
    return `killed by ${name ?? `signal ${code - 128}`} (exit code ${code})`;
  }
  return `exited with code ${code}`;
}

/** One supervised native workload. */
export class NativeWorkload implements WorkloadHandle {
  readonly id: string;
  private child: ChildProcess | undefined;
  private wrapperDepth = 0;
  private readonly st: WorkloadStats = { state: "starting", invocations: 0, failures: 0, restarts: 0 };
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private consecutiveFailures = 0;
  private runStartedAt = 0;
  private oomBefore = 0;
  private exitWaiters: (() => void)[] = [];
  private limitsFreed = false;

  constructor(
    private readonly spec: WorkloadSpec,
    private readonly host: RuntimeHost,
    private readonly command: () => LaunchCommand,
    private readonly limits: WorkloadLimits,
    private readonly opts: SupervisorOptions = SUPERVISOR_DEFAULTS,
  ) {
    this.id = spec.id;
  }

  /** Starts the first run; rejects when the process cannot be spawned at all. */
  async start(): Promise<void> {
    try {
      await this.spawnOnce();
    } catch (err) {
      await this.freeLimits();
      throw new NexError("NEX_E_DEPLOY_FAILED", `could not start ${this.spec.name}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The host pid of the outermost process of the current run (for tests and diagnostics). */
  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  stats(): WorkloadStats {
    // Without a cgroup, the process itself, when no wrapper (sandbox, pid namespace) stands in front of it.
    const memoryBytes = this.limits.memoryBytes() ?? (this.wrapperDepth === 0 ? residentBytes(this.pid) : undefined);
    return memoryBytes === undefined ? { ...this.st } : { ...this.st, memoryBytes };
  }

  private spawnOnce(): Promise<void> {
    const cmd = this.command();
    const opened: number[] = [];
    let child: ChildProcess;
    try {
      const extra = cmd.fds.map((f) => {
        if ("data" in f) return "pipe" as const;
        const fd = openSync(f.path, "r");
        opened.push(fd);
        return fd;
      });
      child = spawn(cmd.file, cmd.args, { env: cmd.env, cwd: cmd.cwd, stdio: ["ignore", "pipe", "pipe", ...extra] });
    } finally {
      for (const fd of opened) closeSync(fd);
    }
    // Data fds are pipes: what they carry (arguments, credentials) never touches the disk or a command line.
    cmd.fds.forEach((f, i) => {
      if (!("data" in f)) return;
      const pipe = child.stdio[3 + i] as NodeJS.WritableStream & { on(e: "error", f: () => void): void };
      pipe.on("error", () => undefined);
      pipe.end(Buffer.from(f.data));
    });
    this.child = child;
    this.wrapperDepth = cmd.wrapperDepth;
    this.oomBefore = this.limits.oomKills();
    for (const stream of ["stdout", "stderr"] as const) {
      const split = new LineSplitter((line) => this.host.log(this.spec, stream, line));
      const s = child[stream]!;
      s.setEncoding("utf8");
      s.on("data", (d: string) => split.push(d));
      s.on("end", () => split.end());
      s.on("error", () => undefined);
    }
    return new Promise<void>((resolve, reject) => {
      child.on("error", (err) => {
        if (child.pid === undefined) reject(err);
      });
      child.once("spawn", () => {
        this.runStartedAt = Date.now();
        this.st.state = "running";
        child.once("exit", (code, sig) => this.onExit(exitCodeOf(code, sig)));
        resolve();
      });
    });
  }

  private onExit(code: number): void {
    this.child = undefined;
    const ranMs = Date.now() - this.runStartedAt;
    const oom = this.limits.oomKills() > this.oomBefore;
    // Whatever the workload left behind (a daemonized child, say) goes with it.
    this.limits.killAll();
    this.st.exitCode = code;
    const waiters = this.exitWaiters.splice(0);
    for (const w of waiters) w();
    if (this.stopping) return;
    const failed = code !== 0;
    const why = describeExit(code, this.spec.memoryLimitMiB, oom);
    if (failed) {
      this.st.failures++;
      this.st.lastError = why;
    }
    this.host.event(this.spec.namespace, "workload_exited", this.spec.id, {
      name: this.spec.name,
      lifecycle: this.spec.lifecycle,
      exitCode: code,
      oom,
      ranMs,
      message: why,
    });
    const restart = this.spec.restart === "always" || (this.spec.restart === "on-failure" && failed);
    if (!restart) {
      this.st.state = failed ? "failed" : "exited";
      this.host.log(this.spec, "stderr", `nex: ${this.spec.name} ${why}`);
      void this.freeLimits();
      return;
    }
    this.consecutiveFailures = ranMs >= this.opts.stableMs ? 1 : this.consecutiveFailures + 1;
    const delayMs = backoffDelay(this.consecutiveFailures, this.opts.backoffBaseMs, this.opts.backoffMaxMs);
    this.st.state = "backoff";
    this.host.event(this.spec.namespace, "workload_restarting", this.spec.id, {
      name: this.spec.name,
      attempt: this.consecutiveFailures,
      delayMs,
      exitCode: code,
      message: why,
    });
    this.host.log(this.spec, "stderr", `nex: ${this.spec.name} ${why}; restarting in ${delayMs} ms (attempt ${this.consecutiveFailures})`);
    this.restartTimer = setTimeout(() => this.restart(), delayMs);
  }

  private restart(): void {
    this.restartTimer = undefined;
    if (this.stopping) return;
    this.st.restarts++;
    this.st.state = "starting";
    this.spawnOnce().catch((err: Error) => {
      this.st.state = "failed";
      this.st.lastError = `could not restart: ${err.message}`;
      this.host.event(this.spec.namespace, "workload_failed", this.spec.id, {
        name: this.spec.name,
        code: "NEX_E_DEPLOY_FAILED",
        message: this.st.lastError,
      });
    });
  }

  /** Stops the workload: SIGTERM to its processes, SIGKILL to the whole tree after the grace period. */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (child?.pid !== undefined) {
      this.st.state = "stopping";
      const exited = this.waitExit();
      const targets = descendants(child.pid).filter((d) => d.depth >= this.wrapperDepth);
      if (this.wrapperDepth === 0) targets.push({ pid: child.pid, depth: 0 });
      for (const t of targets) signal(t.pid, "SIGTERM");
      // Nothing to ask politely yet (the sandbox is still being built): go straight to SIGKILL.
      const graceful = targets.length > 0 && (await within(exited, this.opts.graceMs));
      if (!graceful) {
        // Killing the outermost process tears down its pid namespace; the rest catches a tree without one.
        const tree = descendants(child.pid);
        signal(child.pid, "SIGKILL");
        for (const t of tree) signal(t.pid, "SIGKILL");
        this.limits.killAll();
        await within(exited, 5_000);
      }
    }
    await this.freeLimits();
    this.st.state = "stopped";
  }

  private waitExit(): Promise<void> {
    if (!this.child) return Promise.resolve();
    return new Promise((r) => this.exitWaiters.push(r));
  }

  private async freeLimits(): Promise<void> {
    if (this.limitsFreed) return;
    this.limitsFreed = true;
    await this.limits.destroy();
  }
}

/** Resident memory of one process (from /proc), or undefined when it is gone or unreadable. */
function residentBytes(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** Resolves true when `p` settles within `ms`, false otherwise. */
async function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
