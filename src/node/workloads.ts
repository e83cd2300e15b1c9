/**
 * The instances this node runs: start one from a stored template (fetch, verify, hand to its runtime), stop one, list
 * them. Every start and stop is recorded in the observed state (NEX_NODES), which is how the other nodes count
 * replicas. What should run is decided elsewhere (reconciler.ts); this class only does what it is told.
 */
import { nuid } from "@nats-io/nats-core";
import {
  MASKED_VALUE,
  NexError,
  subjects,
  type WorkloadInspection,
  type WorkloadMaximums,
  type WorkloadSpec,
  type WorkloadState,
  type WorkloadSummary,
  type WorkloadType,
} from "../contract/index.js";
import type { Runtime, RuntimeHost, WorkloadHandle, WorkloadStats } from "../runtimes/runtime.js";
import type { ArtifactStore } from "./artifacts.js";
import type { WorkloadTemplate } from "./desired.js";
import type { InstanceData, Leases } from "./leases.js";
import { overMaximum, unsupportedLimit } from "./limits.js";

/** One instance this node runs. */
export interface Instance {
  spec: WorkloadSpec;
  key: string;
  handle: WorkloadHandle;
  startedAt: string;
  /** The state last recorded in NEX_NODES. */
  recorded?: WorkloadState;
  /** A job whose completion is recorded. */
  done?: boolean;
}

/** What the manager needs from its node. */
export interface WorkloadManagerDeps {
  nodeId: string;
  runtimes: Map<WorkloadType, Runtime>;
  artifacts: ArtifactStore;
  host: RuntimeHost;
  maxWorkloads: number;
  /** What one workload may ask for at most. */
  maximums: WorkloadMaximums;
  /** Where instances are recorded; absent when JetStream is unavailable. */
  leases: Leases | undefined;
  /** A job ran to completion: recorded in desired state before anything else sees it, so it is never run again. */
  onJobDone(inst: Instance, exitCode: number): Promise<void>;
  /** Told after an instance started or stopped (the scheduler arms and disarms its timers). */
  onChanged?(): void;
  /** Readies what an instance needs besides its artifact (a durable function's stream); rejects with a coded error. */
  prepare?(t: WorkloadTemplate): Promise<void>;
  /** Told the last counters of every instance that stops (metrics keep what it counted). */
  onStopped?: (spec: WorkloadSpec, stats: WorkloadStats) => void;
  log(line: string): void;
}

/** Owns the node's running instances. */
export class WorkloadManager {
  private readonly instances = new Map<string, Instance>();
  /** The same instances by desired-state key: a reconcile pass looks up every key, so this must not scan them all. */
  private readonly byKey = new Map<string, Set<Instance>>();
  /** When `refresh` last fetched counters from the runners (`performance.now()`). */
  private refreshedAt = -Infinity;
  /** Starts and stops of one workload run one after another. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly d: WorkloadManagerDeps) {}

  get count(): number {
    return this.instances.size;
  }

  /** Runs `fn` after every earlier operation on workload `key`. */
  serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(fn);
    this.locks.set(key, run);
    void run.finally(() => {
      if (this.locks.get(key) === run) this.locks.delete(key);
    }).catch(() => undefined);
    return run;
  }

  /** Starts an instance of `template` (keeping `id` when resuming one). Rejects with a coded error. */
  /**
   * Whether this node may start one more workload like `w`: its type, the node's workload count, its maximums and the
   * limits it can enforce. Checked before anything is fetched; rejects with a coded error.
   */
  admit(w: Pick<WorkloadTemplate, "type" | "namespace" | "name" | "memoryLimitMiB" | "timeoutMs" | "maxProcesses" | "cpus"> & { sandboxed?: boolean }): Runtime {
    const runtime = this.d.runtimes.get(w.type);
    if (!runtime) throw new NexError("NEX_E_UNSUPPORTED_TYPE", `node ${this.d.nodeId} does not run ${w.type} workloads`);
    if (w.sandboxed && !this.d.host.sandbox) {
      throw new NexError("NEX_E_UNSUPPORTED_TYPE", `${w.namespace}/${w.name} runs sandboxed, and node ${this.d.nodeId} has no sandbox`);
    }
    if (this.instances.size >= this.d.maxWorkloads) throw new NexError("NEX_E_LIMIT", `node runs ${this.instances.size} workloads, its limit`);
    const refused = overMaximum(w.type, w, this.d.maximums) ?? unsupportedLimit(w.type, w, runtime.limitSupport?.());
    if (refused) throw refused;
    return runtime;
  }

  async start(template: WorkloadTemplate, opts: { id?: string; event?: "deployed" | "placed" | "resumed" } = {}): Promise<Instance> {
    // Before anything is fetched or started: a restored or placed spec is held to today's maximums as a new deploy is.
    const runtime = this.admit(template);
    await this.d.prepare?.(template);
    // Only a native workload without the sandbox executes the cache file itself; the sandbox copies it from an fd.
    const executable = template.type === "native" && !this.d.host.sandbox;
    const artifact = await this.d.artifacts.fetch(template.namespace, template.location, template.sha256, { executable });
    const spec: WorkloadSpec = { ...template, id: opts.id ?? nuid.next(), sha256: artifact.sha256 };
    let handle: WorkloadHandle;
    try {
      handle = await runtime.deploy(spec, artifact);
    } catch (err) {
      const e = NexError.from(err, "NEX_E_DEPLOY_FAILED");
      this.d.host.event(spec.namespace, "workload_failed", spec.id, { name: spec.name, type: spec.type, code: e.code, message: e.message });
      throw e;
    }
    const inst: Instance = { spec, key: subjects.desiredKey(spec.namespace, spec.name), handle, startedAt: new Date().toISOString() };
    this.instances.set(spec.id, inst);
    let same = this.byKey.get(inst.key);
    if (!same) this.byKey.set(inst.key, (same = new Set()));
    same.add(inst);
    this.d.onChanged?.();
    await this.record(inst);
    this.d.host.event(spec.namespace, "workload_deployed", spec.id, {
      name: spec.name,
      type: spec.type,
      triggers: spec.triggers,
      sha256: spec.sha256,
      restored: opts.event === "resumed",
      generation: spec.generation,
      how: opts.event ?? "deployed",
    });
    return inst;
  }

  /** Writes an instance's state to NEX_NODES (a failure is logged: the next pass writes it again). */
  async record(inst: Instance): Promise<void> {
    const stats = inst.handle.stats();
    // An idle function is recorded as running: it is, to every other node, and evictions would rewrite records for nothing.
    const state = stats.state === "idle" ? "running" : stats.state;
    if (!this.d.leases || inst.recorded === state) return;
    if (inst.spec.lifecycle === "job" && (state === "exited" || state === "failed") && !inst.done) {
      try {
        await this.d.onJobDone(inst, stats.exitCode ?? -1);
        inst.done = true;
      } catch (err) {
        this.d.log(`warning: could not record that job ${inst.spec.name} finished: ${(err as Error).message}`);
        return;
      }
    }
    const data: InstanceData = {
      v: 1,
      key: inst.key,
      namespace: inst.spec.namespace,
      name: inst.spec.name,
      id: inst.spec.id,
      generation: inst.spec.generation,
      state,
      startedAt: inst.startedAt,
    };
    try {
      await this.d.leases.putInstance(data);
      inst.recorded = state;
    } catch (err) {
      this.d.log(`warning: could not record instance ${inst.spec.id}: ${(err as Error).message}`);
    }
  }

  /** Stops one instance. With `keepRecord`, its record stays (a node stopping cleanly resumes it on restart). */
  async stop(id: string, reason: string, keepRecord = false): Promise<Instance | undefined> {
    const inst = this.instances.get(id);
    if (!inst) return undefined;
    this.instances.delete(id);
    const same = this.byKey.get(inst.key);
    same?.delete(inst);
    if (same?.size === 0) this.byKey.delete(inst.key);
    this.d.onChanged?.();
    await inst.handle.stop().catch(() => undefined);
    this.d.onStopped?.(inst.spec, inst.handle.stats());
    if (!keepRecord) await this.d.leases?.removeInstance(id).catch(() => undefined);
    this.d.host.event(inst.spec.namespace, "workload_stopped", id, { name: inst.spec.name, type: inst.spec.type, reason });
    return inst;
  }

  /** Stops everything (a node stopping); the records stay, so a restart within the grace resumes them. */
  async stopAll(keepRecords: boolean): Promise<void> {
    await Promise.allSettled([...this.instances.keys()].map((id) => this.stop(id, "node stopping", keepRecords)));
  }

  /** One instance. */
  get(id: string): Instance | undefined {
    return this.instances.get(id);
  }

  /** The instances of workload `key` on this node. */
  of(key: string): Instance[] {
    const same = this.byKey.get(key);
    return same ? [...same] : [];
  }

  /** Every instance on this node. */
  all(): Instance[] {
    return [...this.instances.values()];
  }

  /** Asks the runtimes that keep counters in other processes (runners) for fresh ones. */
  async refreshStats(): Promise<void> {
    await Promise.all([...this.d.runtimes.values()].map((r) => r.refreshStats?.().catch(() => undefined)));
  }

  /**
   * Refreshes counters from runners (unless a refresh of this kind ran within `maxAgeMs`), then records every state
   * change. Reconcile passes follow every change of desired state; with thousands of functions, fetching all their
   * counters on each pass of a burst of deploys cost more than the deploys.
   */
  async refresh(maxAgeMs = 0): Promise<void> {
    const now = performance.now();
    if (maxAgeMs === 0 || now - this.refreshedAt >= maxAgeMs) {
      this.refreshedAt = now;
      await this.refreshStats();
    }
    await Promise.all([...this.instances.values()].map((i) => this.record(i)));
  }

  /** Every running instance with its counters as last refreshed. */
  current(): { spec: WorkloadSpec; stats: WorkloadStats }[] {
    return [...this.instances.values()].map((e) => ({ spec: e.spec, stats: e.handle.stats() }));
  }

  /** Summaries of the instances in a namespace (or all), freshest counters first fetched from runners. */
  async list(ns: string | undefined, name?: string): Promise<WorkloadSummary[]> {
    await this.refreshStats();
    const out: WorkloadSummary[] = [];
    for (const e of this.instances.values()) {
      if (ns !== undefined && e.spec.namespace !== ns) continue;
      if (name !== undefined && e.spec.name !== name) continue;
      out.push(this.summary(e));
    }
    return out.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  }

  /** The instances of a workload in a namespace, by id or name: summary, spec (env masked) and recent activity. */
  async inspect(ns: string, sel: { id?: string; name?: string }): Promise<WorkloadInspection[]> {
    const targets = [...this.instances.values()].filter((e) => e.spec.namespace === ns && (sel.id ? e.spec.id === sel.id : e.spec.name === sel.name));
    if (targets.length === 0) {
      throw new NexError("NEX_E_NOT_FOUND", `no workload ${sel.id ? `with id ${sel.id}` : `named "${sel.name}"`} in namespace ${ns}`);
    }
    await this.refreshStats();
    return Promise.all(
      targets.map(async (e) => {
        const activity = (await e.handle.activity?.().catch(() => undefined)) ?? { recentInvocations: [], recentErrors: [] };
        return { ...this.summary(e), spec: masked(e.spec), ...activity };
      }),
    );
  }

  private summary(e: Instance): WorkloadSummary {
    const s = e.handle.stats();
    return {
      id: e.spec.id,
      name: e.spec.name,
      namespace: e.spec.namespace,
      type: e.spec.type,
      nodeId: this.d.nodeId,
      state: s.state,
      lifecycle: e.spec.lifecycle,
      triggers: e.spec.triggers,
      location: e.spec.location,
      sha256: e.spec.sha256,
      startedAt: e.startedAt,
      invocations: s.invocations,
      failures: s.failures,
      restarts: s.restarts,
      exitCode: s.exitCode,
      lastError: s.lastError,
      generation: e.spec.generation,
      replicas: e.spec.replicas,
      latencyMs: s.latencyMs,
    };
  }
}

/** A spec as INSPECT shows it: env names kept, their values masked (they often hold secrets). */
function masked(spec: WorkloadSpec): WorkloadSpec {
  const env: Record<string, string> = {};
  for (const k of Object.keys(spec.env)) env[k] = MASKED_VALUE;
  return { ...spec, env };
}
