/**
 * The node-side Runtime for functions (v8 and wasm). Functions live in runner processes, `runnersPerNamespace` of
 * them per namespace and engine, so tenants are apart and a crash costs one runner, never the node. Every function
 * of a namespace is loaded into each of its runners; their trigger subscriptions share one queue group, so NATS
 * splits the load between them and a namespace's hot functions use more than one core. When a runner dies the
 * runtime respawns it (with backoff) and redeploys its functions from memory, while the others keep serving.
 */
import type { WorkloadSpec, WorkloadType } from "../../contract/index.js";
import { NexError } from "../../contract/index.js";
import { RECENT_ERRORS, RECENT_INVOCATIONS } from "../../observe/activity.js";
import type { ArtifactRef, ProcessStats, Runtime, RuntimeHost, TickResult, WorkloadActivity, WorkloadHandle, WorkloadStats } from "../runtime.js";
import type { ConnectionConfig } from "../../nats/connect.js";
import { addStats, sumStats } from "./stats.js";
import type { FromRunner, InspectReply, StatsReply, StopReply } from "./protocol.js";
import { RunnerProcess } from "./supervisor.js";

const MAX_BACKOFF_MS = 30_000;

/** What one runner counted for one function. */
interface Counts {
  /** The counters of the runner's current process, as last reported. */
  stats: WorkloadStats;
  /** What the runner's processes that died counted for this function before (so counters never go back). */
  base?: WorkloadStats;
}

interface Deployed {
  spec: WorkloadSpec;
  code: Uint8Array;
  /** The function's own connection settings, when it has its own identity. */
  connection: ConnectionConfig | undefined;
  /** Per runner of the namespace, by its index. */
  counts: Counts[];
}

/** One runner process of a namespace, and its respawns. */
interface Runner {
  index: number;
  proc?: RunnerProcess;
  starting?: Promise<RunnerProcess>;
  crashes: number;
  /** Its process died since the namespace's functions were last deployed into it: the next one gets them back. */
  lost: boolean;
  /** The runner's resident memory at the last stats refresh. */
  rssBytes?: number;
  /** Invocations its current process answered for the functions it holds, at the last stats refresh. */
  invocations?: number;
}

interface Slot {
  ns: string;
  runners: Runner[];
  functions: Map<string, Deployed>;
  /** The runner the next scheduled tick tries first. */
  nextTick: number;
}

const fresh = (state: WorkloadStats["state"]): WorkloadStats => ({ state, invocations: 0, failures: 0, restarts: 0 });

/** Runs functions of one engine kind in runner processes. */
export class FunctionRuntime implements Runtime {
  private slots = new Map<string, Slot>();
  private closed = false;

  constructor(
    readonly type: WorkloadType,
    private readonly host: RuntimeHost,
  ) {}

  /** Starts the runners for a namespace ahead of the first deploy, so that deploy is fast. */
  async warm(ns: string): Promise<void> {
    const slot = this.slot(ns);
    await Promise.all(slot.runners.map((r) => this.ensure(slot, r)));
  }

  /** Loads the function into every runner of its namespace; when one fails, the others drop it again. */
  async deploy(spec: WorkloadSpec, artifact: ArtifactRef): Promise<WorkloadHandle> {
    const slot = this.slot(spec.namespace);
    const [procs, connection] = await Promise.all([Promise.all(slot.runners.map((r) => this.ensure(slot, r))), this.host.access.function(spec)]);
    const timeoutMs = this.host.tunables.deployTimeoutMs + spec.timeoutMs;
    const results = await Promise.allSettled(procs.map((p) => p.request({ t: "deploy", spec, code: artifact.bytes, connection }, timeoutMs)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      await Promise.allSettled(procs.filter((_, i) => results[i]!.status === "fulfilled").map((p) => p.request<StopReply>({ t: "stop", id: spec.id }, 30_000)));
      throw failed.reason;
    }
    const d: Deployed = { spec, code: artifact.bytes, connection, counts: slot.runners.map(() => ({ stats: fresh("running") })) };
    slot.functions.set(spec.id, d);
    return {
      id: spec.id,
      stats: () => sumStats(d.counts.map((c) => addStats(c.base, c.stats))),
      activity: () => this.activity(slot, spec.id),
      tick: (scheduledAt) => this.tick(slot, d, scheduledAt),
      stop: () => this.undeploy(slot, d),
    };
  }

  private async undeploy(slot: Slot, d: Deployed): Promise<void> {
    if (!slot.functions.delete(d.spec.id)) return;
    await Promise.all(
      slot.runners.map(async (r) => {
        const c = d.counts[r.index]!;
        const r2 = r.proc?.alive ? await r.proc.request<StopReply>({ t: "stop", id: d.spec.id }, 30_000).catch(() => undefined) : undefined;
        // The last counters, so what the function did since the last refresh still counts.
        c.stats = { ...(r2?.stats ?? c.stats), state: "stopped" };
      }),
    );
  }

  /** The recent activity of every runner, merged by time and capped as one runner caps it (oldest first). */
  private async activity(slot: Slot, id: string): Promise<WorkloadActivity> {
    const replies = await Promise.all(
      slot.runners.map((r) => (r.proc?.alive ? r.proc.request<InspectReply>({ t: "inspect", id }, 5_000).catch(() => undefined) : undefined)),
    );
    const got = replies.filter((r): r is WorkloadActivity => r !== undefined);
    if (got.length <= 1) return got[0] ?? { recentInvocations: [], recentErrors: [] };
    const byTime = (a: { time: string }, b: { time: string }): number => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0);
    return {
      recentInvocations: got.flatMap((a) => a.recentInvocations).sort(byTime).slice(-RECENT_INVOCATIONS),
      recentErrors: got.flatMap((a) => a.recentErrors).sort(byTime).slice(-RECENT_ERRORS),
    };
  }

  /** Runs one scheduled tick of a function in one live runner (the next in turn); resolves when the run ended, with how. */
  private async tick(slot: Slot, d: Deployed, scheduledAt: string): Promise<TickResult> {
    const n = slot.runners.length;
    for (let k = 0; k < n; k++) {
      const i = (slot.nextTick + k) % n;
      const r = slot.runners[i]!;
      if (!r.proc?.alive || r.starting || d.counts[i]!.stats.state !== "running") continue;
      slot.nextTick = (i + 1) % n;
      return r.proc.request<TickResult>({ t: "tick", id: d.spec.id, scheduledAt }, d.spec.timeoutMs + 5_000);
    }
    return { ok: false, code: "NEX_E_RUNNER_UNAVAILABLE", message: "the runner is restarting" };
  }

  processes(): ProcessStats[] {
    const out: ProcessStats[] = [];
    for (const slot of this.slots.values()) {
      for (const r of slot.runners) {
        if (r.proc?.alive) out.push({ namespace: slot.ns, runner: r.index, pid: r.proc.pid, rssBytes: r.rssBytes, invocations: r.invocations });
      }
    }
    return out;
  }

  async refreshStats(): Promise<void> {
    await Promise.all(
      [...this.slots.values()].flatMap((slot) =>
        slot.runners.map(async (r) => {
          const proc = r.proc;
          if (!proc?.alive) return;
          const stats = await proc.request<StatsReply>({ t: "stats" }, 5_000).catch(() => undefined);
          // A reply from a process that died meanwhile is not the current one's.
          if (!stats || r.proc !== proc) return;
          r.rssBytes = stats.rssBytes;
          let invocations = 0;
          for (const [id, s] of Object.entries(stats.functions)) {
            invocations += s.invocations;
            const d = slot.functions.get(id);
            if (d) d.counts[r.index]!.stats = s;
          }
          r.invocations = invocations;
        }),
      ),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    // A runner still starting is waited for (and stopped in `spawn`): none outlives the node.
    await Promise.allSettled(
      [...this.slots.values()].flatMap((s) =>
        s.runners.map(async (r) => {
          await r.starting?.catch(() => undefined);
          await r.proc?.stop();
        }),
      ),
    );
    this.slots.clear();
  }

  private slot(ns: string): Slot {
    let s = this.slots.get(ns);
    if (!s) {
      const n = this.host.tunables.runnersPerNamespace;
      s = { ns, functions: new Map(), nextTick: 0, runners: Array.from({ length: n }, (_, index) => ({ index, crashes: 0, lost: false })) };
      this.slots.set(ns, s);
    }
    return s;
  }

  private label(slot: Slot, r: Runner): string {
    return slot.runners.length === 1 ? `${this.type}/${slot.ns}` : `${this.type}/${slot.ns}#${r.index}`;
  }

  private async ensure(slot: Slot, r: Runner): Promise<RunnerProcess> {
    if (r.proc?.alive) return r.proc;
    if (this.closed) throw new NexError("NEX_E_RUNNER_UNAVAILABLE", "the node is stopping");
    r.starting ??= this.spawn(slot, r).finally(() => {
      r.starting = undefined;
    });
    return r.starting;
  }

  /** Starts a runner process; one that replaces a dead one gets the namespace's functions back before it counts as started. */
  private async spawn(slot: Slot, r: Runner): Promise<RunnerProcess> {
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
      (line) => process.stderr.write(`[runner ${this.label(slot, r)}] ${line}\n`),
    );
    if (this.closed) {
      await proc.stop();
      throw new NexError("NEX_E_RUNNER_UNAVAILABLE", "the node is stopping");
    }
    proc.on("event", (m: Extract<FromRunner, { t: "event" }>) => this.host.event(m.ns, m.type, m.workloadId, m.data));
    proc.once("exit", (code: number | null, signal: string | null) => this.onExit(slot, r, proc, code, signal));
    r.proc = proc;
    this.watchLiveness(slot, r, proc);
    if (r.lost) {
      r.lost = false;
      await this.redeployHeld(slot, r, proc);
    }
    return proc;
  }

  /** Deploys what the namespace holds into a runner that replaces a dead one. */
  private async redeployHeld(slot: Slot, r: Runner, proc: RunnerProcess): Promise<void> {
    for (const d of [...slot.functions.values()]) {
      // Stopped while the ones before it were redeployed.
      if (!slot.functions.has(d.spec.id)) continue;
      const c = d.counts[r.index]!;
      try {
        await proc.request({ t: "deploy", spec: d.spec, code: d.code, connection: d.connection }, this.host.tunables.deployTimeoutMs);
        if (!slot.functions.has(d.spec.id)) {
          // Stopped while it was being redeployed here: the stop may have reached this runner before the deploy.
          await proc.request<StopReply>({ t: "stop", id: d.spec.id }, 30_000).catch(() => undefined);
          continue;
        }
        c.stats = { ...c.stats, state: "running" };
      } catch (err) {
        const e = NexError.from(err);
        c.stats = { ...c.stats, state: "failed", lastError: `${e.code}: ${e.message}` };
        this.host.event(slot.ns, "workload_failed", d.spec.id, { name: d.spec.name, code: e.code, message: e.message });
      }
    }
  }

  /**
   * A runner that stops answering (frozen, stopped with SIGSTOP, wedged in a native call) is killed; its exit
   * respawns it and brings its functions back, like any other death.
   */
  private watchLiveness(slot: Slot, r: Runner, proc: RunnerProcess): void {
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
        this.host.event(slot.ns, "runner_unresponsive", undefined, { kind: this.type, namespace: slot.ns, runner: r.index, silentMs, functions: slot.functions.size });
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

  private onExit(slot: Slot, r: Runner, proc: RunnerProcess, code: number | null, signal: string | null): void {
    if (r.proc === proc) r.proc = undefined;
    if (this.closed) return;
    r.crashes++;
    r.lost = true;
    const reason = signal ?? `exit code ${code}`;
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(r.crashes - 1, 10));
    r.rssBytes = undefined;
    r.invocations = undefined;
    for (const d of slot.functions.values()) {
      // What the dead process counted is kept; the new one starts from zero.
      const c = d.counts[r.index]!;
      const lastError = `runner died (${reason})`;
      c.base = { ...addStats(c.base, c.stats), restarts: (c.base?.restarts ?? 0) + 1, lastError };
      c.stats = fresh("starting");
    }
    this.host.event(slot.ns, "runner_restarted", undefined, {
      kind: this.type,
      namespace: slot.ns,
      runner: r.index,
      reason,
      functions: slot.functions.size,
      delayMs: delay,
    });
    const timer = setTimeout(() => void this.restore(slot, r), delay);
    timer.unref();
  }

  /** Respawns a dead runner; `spawn` redeploys what it held. */
  private async restore(slot: Slot, r: Runner): Promise<void> {
    if (this.closed || r.proc?.alive) return;
    let proc: RunnerProcess;
    try {
      proc = await this.ensure(slot, r);
    } catch (err) {
      const e = NexError.from(err, "NEX_E_RUNNER_UNAVAILABLE");
      this.host.event(slot.ns, "workload_failed", undefined, { type: this.type, code: e.code, message: `the ${this.type} runner could not be restarted: ${e.message}` });
      return;
    }
    // A runner that stays up for a minute has earned a clean slate.
    const reset = setTimeout(() => {
      if (r.proc === proc && proc.alive) r.crashes = 0;
    }, 60_000);
    reset.unref();
  }
}
