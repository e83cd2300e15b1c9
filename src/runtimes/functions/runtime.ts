/**
 * The node-side Runtime for functions (v8 and wasm). Functions live in runner processes, one per namespace and
 * engine, so tenants are apart and a crash costs one runner, never the node. When a runner dies the runtime
 * respawns it (with backoff) and redeploys its functions from memory.
 */
import type { WorkloadSpec, WorkloadType } from "../../contract/index.js";
import { NexError } from "../../contract/index.js";
import type { ArtifactRef, ProcessStats, Runtime, RuntimeHost, TickResult, WorkloadActivity, WorkloadHandle, WorkloadStats } from "../runtime.js";
import type { ConnectionConfig } from "../../nats/connect.js";
import { addStats } from "./stats.js";
import type { FromRunner, InspectReply, StatsReply, StopReply } from "./protocol.js";
import { RunnerProcess } from "./supervisor.js";

const MAX_BACKOFF_MS = 30_000;

interface Deployed {
  spec: WorkloadSpec;
  code: Uint8Array;
  /** The function's own connection settings, when it has its own identity. */
  connection: ConnectionConfig | undefined;
  /** The counters of the current runner, as last reported. */
  stats: WorkloadStats;
  /** What runners that died counted for this function before (so counters never go back). */
  base?: WorkloadStats;
}

interface Slot {
  ns: string;
  proc?: RunnerProcess;
  starting?: Promise<RunnerProcess>;
  crashes: number;
  functions: Map<string, Deployed>;
  /** The runner's resident memory at the last stats refresh. */
  rssBytes?: number;
}

/** Runs functions of one engine kind in runner processes. */
export class FunctionRuntime implements Runtime {
  private slots = new Map<string, Slot>();
  private closed = false;

  constructor(
    readonly type: WorkloadType,
    private readonly host: RuntimeHost,
  ) {}

  /** Starts the runner for a namespace ahead of the first deploy, so that deploy is fast. */
  async warm(ns: string): Promise<void> {
    await this.ensure(this.slot(ns));
  }

  async deploy(spec: WorkloadSpec, artifact: ArtifactRef): Promise<WorkloadHandle> {
    const slot = this.slot(spec.namespace);
    const [proc, connection] = await Promise.all([this.ensure(slot), this.host.access.function(spec)]);
    await proc.request({ t: "deploy", spec, code: artifact.bytes, connection }, this.host.tunables.deployTimeoutMs + spec.timeoutMs);
    const d: Deployed = { spec, code: artifact.bytes, connection, stats: { state: "running", invocations: 0, failures: 0, restarts: 0 } };
    slot.functions.set(spec.id, d);
    return {
      id: spec.id,
      stats: () => addStats(d.base, d.stats),
      activity: () => this.activity(slot, spec.id),
      tick: (scheduledAt) => this.tick(slot, spec, scheduledAt),
      stop: () => this.undeploy(slot, d),
    };
  }

  private async undeploy(slot: Slot, d: Deployed): Promise<void> {
    if (!slot.functions.delete(d.spec.id)) return;
    if (!slot.proc?.alive) return;
    const r = await slot.proc.request<StopReply>({ t: "stop", id: d.spec.id }, 30_000).catch(() => undefined);
    // The last counters, so what the function did since the last refresh still counts.
    if (r?.stats) d.stats = { ...r.stats, state: "stopped" };
  }

  private async activity(slot: Slot, id: string): Promise<WorkloadActivity> {
    const empty: WorkloadActivity = { recentInvocations: [], recentErrors: [] };
    if (!slot.proc?.alive) return empty;
    const r = await slot.proc.request<InspectReply>({ t: "inspect", id }, 5_000).catch(() => undefined);
    return r ?? empty;
  }

  /** Runs one scheduled tick of a function in its runner; resolves when the run ended, with how. */
  private async tick(slot: Slot, spec: WorkloadSpec, scheduledAt: string): Promise<TickResult> {
    if (!slot.proc?.alive) return { ok: false, code: "NEX_E_RUNNER_UNAVAILABLE", message: "the runner is restarting" };
    return slot.proc.request<TickResult>({ t: "tick", id: spec.id, scheduledAt }, spec.timeoutMs + 5_000);
  }

  processes(): ProcessStats[] {
    const out: ProcessStats[] = [];
    for (const slot of this.slots.values()) {
      if (slot.proc?.alive) out.push({ namespace: slot.ns, pid: slot.proc.pid, rssBytes: slot.rssBytes });
    }
    return out;
  }

  async refreshStats(): Promise<void> {
    await Promise.all(
      [...this.slots.values()].map(async (slot) => {
        if (!slot.proc?.alive) return;
        const stats = await slot.proc.request<StatsReply>({ t: "stats" }, 5_000).catch(() => undefined);
        if (!stats) return;
        slot.rssBytes = stats.rssBytes;
        for (const [id, s] of Object.entries(stats.functions)) {
          const d = slot.functions.get(id);
          if (d) d.stats = s;
        }
      }),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    // A runner still starting is waited for (and stopped in `spawn`): none outlives the node.
    await Promise.allSettled(
      [...this.slots.values()].map(async (s) => {
        await s.starting?.catch(() => undefined);
        await s.proc?.stop();
      }),
    );
    this.slots.clear();
  }

  private slot(ns: string): Slot {
    let s = this.slots.get(ns);
    if (!s) {
      s = { ns, crashes: 0, functions: new Map() };
      this.slots.set(ns, s);
    }
    return s;
  }

  private async ensure(slot: Slot): Promise<RunnerProcess> {
    if (slot.proc?.alive) return slot.proc;
    if (this.closed) throw new NexError("NEX_E_RUNNER_UNAVAILABLE", "the node is stopping");
    slot.starting ??= this.spawn(slot).finally(() => {
      slot.starting = undefined;
    });
    return slot.starting;
  }

  private async spawn(slot: Slot): Promise<RunnerProcess> {
    const proc = await RunnerProcess.start(
      {
        kind: this.type,
        nodeId: this.host.nodeId,
        namespace: slot.ns,
        connection: await this.host.access.runner(slot.ns),
        autoCreateBuckets: this.host.autoCreateBuckets,
        allowEgress: [...this.host.allowEgress],
        tunables: this.host.tunables,
        otlpEndpoint: this.host.otlpEndpoint,
      },
      this.host.tunables.runnerHeapMiB,
      (line) => process.stderr.write(`[runner ${this.type}/${slot.ns}] ${line}\n`),
    );
    if (this.closed) {
      await proc.stop();
      throw new NexError("NEX_E_RUNNER_UNAVAILABLE", "the node is stopping");
    }
    proc.on("event", (m: Extract<FromRunner, { t: "event" }>) => this.host.event(m.ns, m.type, m.workloadId, m.data));
    proc.once("exit", (code: number | null, signal: string | null) => this.onExit(slot, proc, code, signal));
    slot.proc = proc;
    this.watchLiveness(slot, proc);
    return proc;
  }

  /**
   * A runner that stops answering (frozen, stopped with SIGSTOP, wedged in a native call) is killed; its exit
   * respawns it and brings its functions back, like any other death.
   */
  private watchLiveness(slot: Slot, proc: RunnerProcess): void {
    const { runnerPingMs, runnerUnresponsiveMs } = this.host.tunables;
    let lastAnswer = Date.now();
    let asking = false;
    const timer = setInterval(() => {
      if (!proc.alive) {
        clearInterval(timer);
        return;
      }
      const silentMs = Date.now() - lastAnswer;
      if (silentMs > runnerUnresponsiveMs) {
        clearInterval(timer);
        this.host.event(slot.ns, "runner_unresponsive", undefined, { kind: this.type, namespace: slot.ns, silentMs, functions: slot.functions.size });
        proc.kill();
        return;
      }
      if (asking) return;
      asking = true;
      proc
        .request({ t: "ping" }, runnerUnresponsiveMs)
        .then(() => (lastAnswer = Date.now()))
        .catch(() => undefined)
        .finally(() => (asking = false));
    }, runnerPingMs);
    timer.unref();
  }

  private onExit(slot: Slot, proc: RunnerProcess, code: number | null, signal: string | null): void {
    if (slot.proc === proc) slot.proc = undefined;
    if (this.closed) return;
    slot.crashes++;
    const reason = signal ?? `exit code ${code}`;
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(slot.crashes - 1, 10));
    slot.rssBytes = undefined;
    for (const d of slot.functions.values()) {
      // What the dead runner counted is kept; the new one starts from zero.
      const lastError = `runner died (${reason})`;
      d.base = { ...addStats(d.base, d.stats), restarts: (d.base?.restarts ?? 0) + 1, lastError };
      d.stats = { state: "starting", invocations: 0, failures: 0, restarts: 0 };
    }
    this.host.event(slot.ns, "runner_restarted", undefined, {
      kind: this.type,
      namespace: slot.ns,
      reason,
      functions: slot.functions.size,
      delayMs: delay,
    });
    const timer = setTimeout(() => void this.restore(slot), delay);
    timer.unref();
  }

  /** Respawns a dead runner and redeploys what it held. */
  private async restore(slot: Slot): Promise<void> {
    if (this.closed || slot.proc?.alive) return;
    let proc: RunnerProcess;
    try {
      proc = await this.ensure(slot);
    } catch (err) {
      const e = NexError.from(err, "NEX_E_RUNNER_UNAVAILABLE");
      this.host.event(slot.ns, "workload_failed", undefined, { type: this.type, code: e.code, message: `the ${this.type} runner could not be restarted: ${e.message}` });
      return;
    }
    for (const d of [...slot.functions.values()]) {
      try {
        await proc.request({ t: "deploy", spec: d.spec, code: d.code, connection: d.connection }, this.host.tunables.deployTimeoutMs);
        d.stats = { ...d.stats, state: "running" };
      } catch (err) {
        const e = NexError.from(err);
        d.stats = { ...d.stats, state: "failed", lastError: `${e.code}: ${e.message}` };
        this.host.event(slot.ns, "workload_failed", d.spec.id, { name: d.spec.name, code: e.code, message: e.message });
      }
    }
    // A runner that stays up for a minute has earned a clean slate.
    const reset = setTimeout(() => {
      if (slot.proc === proc && proc.alive) slot.crashes = 0;
    }, 60_000);
    reset.unref();
  }
}
