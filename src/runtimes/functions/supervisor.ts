/**
 * Node side of a runner process: spawns it with `--no-node-snapshot`, speaks the IPC protocol, and reports its death.
 */
import { fork, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { NexError } from "../../contract/index.js";
import type { FromRunner, RunnerInit, ToRunner } from "./protocol.js";

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

/** Distributes ToRunner over its variants, so `Omit` keeps each variant's own fields. */
type Request = ToRunner extends infer T ? (T extends ToRunner ? Omit<T, "rid"> : never) : never;

/** The runner's entry file (`src/runner/main`): `.ts` under tsx (tests), `.js` when built. */
function runnerEntry(heapMiB: number): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ts = extname(here) === ".ts";
  const file = fileURLToPath(new URL(ts ? "../../runner/main.ts" : "../../runner/main.js", import.meta.url));
  const execArgv = ["--no-node-snapshot", `--max-old-space-size=${heapMiB}`];
  if (ts) execArgv.push("--import", "tsx");
  return { file, execArgv };
}

/** One runner child process. Emits `exit` (code, signal) once, and `event` for workload events it reports. */
export class RunnerProcess extends EventEmitter {
  private rid = 0;
  private pending = new Map<number, Pending>();
  private exited = false;

  private constructor(private readonly child: ChildProcess) {
    super();
    child.on("message", (m: FromRunner) => this.onMessage(m));
    child.once("exit", (code, signal) => {
      this.exited = true;
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new NexError("NEX_E_RUNNER_UNAVAILABLE", `runner exited (${signal ?? `code ${code}`})`));
      }
      this.pending.clear();
      this.emit("exit", code, signal);
    });
    child.on("error", () => undefined);
  }

  /** Starts a runner and waits until it is connected to NATS. */
  static async start(init: RunnerInit, heapMiB: number, onStderr: (line: string) => void): Promise<RunnerProcess> {
    const { file, execArgv } = runnerEntry(heapMiB);
    const child = fork(file, [], { execArgv, serialization: "advanced", stdio: ["ignore", "inherit", "pipe", "ipc"] });
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => d.split("\n").filter(Boolean).forEach(onStderr));
    const rp = new RunnerProcess(child);
    try {
      await rp.request({ t: "init", init }, 30_000);
    } catch (err) {
      rp.kill();
      throw err;
    }
    return rp;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Sends a request and waits for its reply. */
  request<T = unknown>(msg: Request, timeoutMs: number): Promise<T> {
    if (this.exited) return Promise.reject(new NexError("NEX_E_RUNNER_UNAVAILABLE", "runner is not running"));
    const rid = ++this.rid;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new NexError("NEX_E_TIMEOUT", `runner did not answer ${msg.t} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(rid, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.child.send({ ...msg, rid } as ToRunner);
    });
  }

  private onMessage(m: FromRunner): void {
    if (m.t === "event") {
      this.emit("event", m);
      return;
    }
    const p = this.pending.get(m.rid);
    if (!p) return;
    this.pending.delete(m.rid);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.data);
    else p.reject(NexError.fromBody(m.error));
  }

  /** Asks the runner to stop, then kills it if it lingers. */
  async stop(graceMs = 3_000): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((r) => this.once("exit", () => r()));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.kill(), graceMs);
    await done;
    clearTimeout(timer);
  }

  /** Kills the runner at once. */
  kill(): void {
    if (!this.exited) this.child.kill("SIGKILL");
  }
}
