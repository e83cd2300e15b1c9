/**
 * A pool of wasm worker threads inside a runner. Invocations queue for the next idle worker; each has a timer, and a
 * worker that runs past it (or dies) is terminated and replaced, so the runner's event loop never runs wasm.
 * Workers receive a compiled module once and keep it by key, so an invocation only carries its payload.
 */
import { availableParallelism } from "node:os";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import type { WasmModule } from "./wasm-api.js";
import type { MemoryLimits } from "./limits.js";
import type { FromWorker, HostReply, HostRequest, RunRequest, RunResult, StderrLimits, ToWorker, WorkerInit } from "./protocol.js";

/** How an invocation ended, from the pool's side. */
export type JobOutcome = { kind: "done"; result: RunResult } | { kind: "timeout" } | { kind: "crashed"; reason: string; oom: boolean };

/** One invocation to run. */
export interface PoolJob {
  key: string;
  module: WasmModule;
  memory: MemoryLimits;
  args: string[];
  env: string[];
  stdin: Uint8Array;
  maxOutputBytes: number;
  log: StderrLimits;
  timeoutMs: number;
  onStderr(line: string): void;
  /** Performs one of this job's host calls on the main thread. Must not reject. */
  hostCall(req: HostRequest): Promise<HostReply>;
}

/** Pool settings. */
export interface PoolOptions {
  /** Worker threads, i.e. invocations that run at once. */
  size?: number;
  /** JS heap cap of each worker (stdout and stdin copies live there; wasm memory is capped in the module). */
  workerHeapMiB?: number;
}

/** Default number of workers: the cores, at least 2 and at most 8. */
function defaultPoolSize(): number {
  return Math.min(8, Math.max(2, availableParallelism()));
}

/**
 * The worker's entry: `worker.js` when built. Under tsx (tests), Node 20 does not apply `--import tsx` to a worker's
 * entry module, so a tiny bootstrap registers tsx first and then imports `worker.ts`. Workers also refuse
 * --no-node-snapshot, so nothing is inherited from the runner's execArgv.
 */
function workerEntry(): { entry: string | URL; eval: boolean } {
  if (extname(fileURLToPath(import.meta.url)) !== ".ts") return { entry: new URL("./worker.js", import.meta.url), eval: false };
  const tsx = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  const worker = JSON.stringify(new URL("./worker.ts", import.meta.url).href);
  return { entry: `import(${tsx}).then((m) => { m.register(); return import(${worker}); });`, eval: true };
}

interface Active {
  job: PoolJob;
  seq: number;
  timer: NodeJS.Timeout;
  resolve(o: JobOutcome): void;
}

interface Slot {
  worker: Worker;
  signal: Int32Array;
  replies: MessagePort;
  ready: boolean;
  loaded: Set<string>;
  active?: Active;
}

interface Queued {
  job: PoolJob;
  resolve(o: JobOutcome): void;
}

/** Copies a view that does not own its whole buffer, so structured clone does not copy the rest of it. */
function own(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice();
}

/** Runs wasm invocations on worker threads. */
export class WorkerPool {
  private readonly slots = new Set<Slot>();
  private readonly queue: Queued[] = [];
  private readonly size: number;
  private seq = 0;
  private startFailures = 0;
  private closed = false;
  private readyWaiters: { n: number; resolve(): void }[] = [];

  constructor(private readonly opts: PoolOptions) {
    this.size = Math.max(1, opts.size ?? defaultPoolSize());
    for (let i = 0; i < this.size; i++) this.spawn();
  }

  /** Runs one invocation; never rejects. */
  run(job: PoolJob): Promise<JobOutcome> {
    if (this.closed) return Promise.resolve({ kind: "crashed", reason: "the wasm engine is closed", oom: false });
    return new Promise((resolve) => {
      this.queue.push({ job, resolve });
      this.refill();
      this.pump();
    });
  }

  /** Resolves once `n` workers (default: all) have started; what a deploy waits for, so its first call is not slow. */
  whenReady(n = this.size): Promise<void> {
    if (this.readyCount() >= n || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push({ n, resolve }));
  }

  private wakeReadyWaiters(): void {
    const ready = this.readyCount();
    const due = this.readyWaiters.filter((w) => w.n <= ready);
    this.readyWaiters = this.readyWaiters.filter((w) => w.n > ready);
    for (const w of due) w.resolve();
  }

  private readyCount(): number {
    let n = 0;
    for (const s of this.slots) if (s.ready) n++;
    return n;
  }

  /** Forgets a module in every worker. */
  drop(key: string): void {
    for (const s of this.slots) {
      if (s.loaded.delete(key)) s.worker.postMessage({ t: "drop", key } satisfies ToWorker);
    }
  }

  /** Terminates every worker; queued invocations end as crashed. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.readyWaiters.splice(0)) w.resolve();
    for (const q of this.queue.splice(0)) q.resolve({ kind: "crashed", reason: "the wasm engine is closing", oom: false });
    await Promise.allSettled([...this.slots].map((s) => this.retire(s, { kind: "crashed", reason: "the wasm engine is closing", oom: false })));
  }

  private spawn(): void {
    const { entry, eval: isEval } = workerEntry();
    const signal = new SharedArrayBuffer(4);
    const { port1, port2 } = new MessageChannel();
    const init: WorkerInit = { signal, replies: port2 };
    const worker = new Worker(entry, {
      eval: isEval,
      workerData: init,
      transferList: [port2],
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: this.opts.workerHeapMiB ?? 256 },
      stdout: false,
      stderr: false,
    });
    const slot: Slot = { worker, signal: new Int32Array(signal), replies: port1, ready: false, loaded: new Set() };
    this.slots.add(slot);
    worker.on("message", (m: FromWorker) => this.onMessage(slot, m));
    worker.on("error", (err: Error & { code?: string }) => this.onDeath(slot, err.message, err.code === "ERR_WORKER_OUT_OF_MEMORY"));
    worker.on("exit", (code) => this.onDeath(slot, `worker exited with code ${code}`, false));
  }

  /** Keeps the pool at its size, unless workers keep failing to start (then the next run tries again). */
  private refill(): void {
    if (this.closed) return;
    while (this.slots.size < this.size && this.startFailures < 3) this.spawn();
    if (this.slots.size === 0) {
      this.startFailures = 0;
      for (const q of this.queue.splice(0)) q.resolve({ kind: "crashed", reason: "wasm workers fail to start", oom: false });
    }
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    switch (m.t) {
      case "ready":
        slot.ready = true;
        this.startFailures = 0;
        this.wakeReadyWaiters();
        this.pump();
        return;
      case "stderr":
        if (slot.active?.seq === m.seq) slot.active.job.onStderr(m.line);
        return;
      case "host": {
        const job = slot.active?.seq === m.seq ? slot.active.job : undefined;
        if (!job) return;
        void job.hostCall(m.req).then((reply) => {
          if (slot.active?.seq !== m.seq || !this.slots.has(slot)) return;
          slot.replies.postMessage({ ...reply, data: own(reply.data) });
          Atomics.store(slot.signal, 0, 1);
          Atomics.notify(slot.signal, 0);
        });
        return;
      }
      case "done": {
        const a = slot.active;
        if (a?.seq !== m.seq) return;
        clearTimeout(a.timer);
        slot.active = undefined;
        a.resolve({ kind: "done", result: m });
        this.pump();
        return;
      }
    }
  }

  private onDeath(slot: Slot, reason: string, oom: boolean): void {
    if (!this.slots.delete(slot)) return;
    if (!slot.ready) this.startFailures++;
    slot.replies.close();
    const a = slot.active;
    slot.active = undefined;
    if (a) {
      clearTimeout(a.timer);
      a.resolve({ kind: "crashed", reason, oom });
    }
    this.refill();
    this.pump();
  }

  /** Removes a worker for good (timeout or close) and settles what it was running. */
  private async retire(slot: Slot, outcome: JobOutcome): Promise<void> {
    this.slots.delete(slot);
    const a = slot.active;
    slot.active = undefined;
    if (a) {
      clearTimeout(a.timer);
      a.resolve(outcome);
    }
    slot.replies.close();
    await slot.worker.terminate();
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.active) continue;
      const q = this.queue.shift();
      if (q) this.start(slot, q);
    }
  }

  private start(slot: Slot, q: Queued): void {
    const seq = ++this.seq;
    const { job } = q;
    const timer = setTimeout(() => {
      void this.retire(slot, { kind: "timeout" }).finally(() => {
        this.refill();
        this.pump();
      });
    }, job.timeoutMs);
    slot.active = { job, seq, timer, resolve: q.resolve };
    const first = !slot.loaded.has(job.key);
    slot.loaded.add(job.key);
    const msg: RunRequest = {
      t: "run",
      seq,
      key: job.key,
      args: job.args,
      env: job.env,
      stdin: own(job.stdin),
      maxOutputBytes: job.maxOutputBytes,
      log: job.log,
      memory: job.memory,
      ...(first ? { module: job.module } : {}),
    };
    slot.worker.postMessage(msg satisfies ToWorker);
  }
}
