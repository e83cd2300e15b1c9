/**
 * The node's workloads: deploy (fetch, verify, start, record), replace by name, stop, list, restore.
 */
import { nuid } from "@nats-io/nats-core";
import {
  MASKED_VALUE,
  NexError,
  type DeployReply,
  type WorkloadInspection,
  type WorkloadSpec,
  type WorkloadSummary,
  type WorkloadType,
} from "../contract/index.js";
import type { Runtime, RuntimeHost, WorkloadHandle, WorkloadStats } from "../runtimes/runtime.js";
import type { ArtifactStore } from "./artifacts.js";
import type { StateStore } from "./state.js";

interface Entry {
  spec: WorkloadSpec;
  handle: WorkloadHandle;
  startedAt: string;
}

/** What the manager needs from its node. */
export interface WorkloadManagerDeps {
  nodeId: string;
  runtimes: Map<WorkloadType, Runtime>;
  artifacts: ArtifactStore;
  state: StateStore | undefined;
  host: RuntimeHost;
  maxWorkloads: number;
  /** Told the last counters of every instance that stops (metrics keep what it counted). */
  onStopped?: (spec: WorkloadSpec, stats: WorkloadStats) => void;
}

/** Owns the node's running workloads. */
export class WorkloadManager {
  private entries = new Map<string, Entry>();
  /** Deploys of the same name run one after another, so a replace never races another replace. */
  private nameLocks = new Map<string, Promise<unknown>>();

  constructor(private readonly d: WorkloadManagerDeps) {}

  get count(): number {
    return this.entries.size;
  }

  /** Deploys a validated spec. With `restoring`, the id is kept and no state is written. */
  async deploy(spec: Omit<WorkloadSpec, "id" | "createdAt"> & Partial<Pick<WorkloadSpec, "id" | "createdAt">>, restoring = false): Promise<DeployReply> {
    const key = `${spec.namespace}/${spec.name}`;
    const prev = this.nameLocks.get(key) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(() => this.deployNow(spec, restoring));
    this.nameLocks.set(key, run);
    try {
      return await run;
    } finally {
      if (this.nameLocks.get(key) === run) this.nameLocks.delete(key);
    }
  }

  private async deployNow(
    partial: Omit<WorkloadSpec, "id" | "createdAt"> & Partial<Pick<WorkloadSpec, "id" | "createdAt">>,
    restoring: boolean,
  ): Promise<DeployReply> {
    const t0 = performance.now();
    const runtime = this.d.runtimes.get(partial.type);
    if (!runtime) throw new NexError("NEX_E_UNSUPPORTED_TYPE", `node ${this.d.nodeId} does not run ${partial.type} workloads`);
    const previous = this.findByName(partial.namespace, partial.name);
    if (!previous && this.entries.size >= this.d.maxWorkloads) {
      throw new NexError("NEX_E_LIMIT", `node runs ${this.entries.size} workloads, its limit`);
    }
    // Only a native workload without the sandbox executes the cache file itself; the sandbox copies it from an fd.
    const executable = partial.type === "native" && !this.d.host.sandbox;
    const artifact = await this.d.artifacts.fetch(partial.namespace, partial.location, partial.sha256, { executable });
    const spec: WorkloadSpec = {
      ...partial,
      id: partial.id ?? nuid.next(),
      createdAt: partial.createdAt ?? new Date().toISOString(),
      sha256: artifact.sha256,
    };
    let handle: WorkloadHandle;
    try {
      handle = await runtime.deploy(spec, artifact);
    } catch (err) {
      const e = NexError.from(err, "NEX_E_DEPLOY_FAILED");
      this.d.host.event(spec.namespace, "workload_failed", spec.id, { name: spec.name, type: spec.type, code: e.code, message: e.message });
      throw e;
    }
    this.entries.set(spec.id, { spec, handle, startedAt: new Date().toISOString() });
    if (!restoring) await this.d.state?.save(spec);
    // The new instance is serving before the old one goes: a redeploy drops no messages.
    if (previous) await this.stopEntry(previous, "replaced");
    this.d.host.event(spec.namespace, "workload_deployed", spec.id, {
      name: spec.name,
      type: spec.type,
      triggers: spec.triggers,
      sha256: spec.sha256,
      restored: restoring,
      replaced: previous?.spec.id,
    });
    return {
      id: spec.id,
      name: spec.name,
      namespace: spec.namespace,
      nodeId: this.d.nodeId,
      type: spec.type,
      replaced: previous?.spec.id,
      deployMs: Math.round((performance.now() - t0) * 100) / 100,
    };
  }

  /** Stops workloads by id or by name within a namespace. Returns what was stopped. */
  async stop(ns: string, sel: { id?: string; name?: string }): Promise<{ id: string; name: string }[]> {
    const targets = [...this.entries.values()].filter(
      (e) => e.spec.namespace === ns && (sel.id ? e.spec.id === sel.id : e.spec.name === sel.name),
    );
    if (targets.length === 0) {
      throw new NexError("NEX_E_NOT_FOUND", `no workload ${sel.id ? `with id ${sel.id}` : `named "${sel.name}"`} in namespace ${ns}`);
    }
    for (const t of targets) await this.stopEntry(t, "stopped");
    return targets.map((t) => ({ id: t.spec.id, name: t.spec.name }));
  }

  private async stopEntry(e: Entry, reason: string, keepState = false): Promise<void> {
    this.entries.delete(e.spec.id);
    if (!keepState) await this.d.state?.remove(e.spec.id).catch(() => undefined);
    await e.handle.stop().catch(() => undefined);
    this.d.onStopped?.(e.spec, e.handle.stats());
    this.d.host.event(e.spec.namespace, "workload_stopped", e.spec.id, { name: e.spec.name, type: e.spec.type, reason });
  }

  /** Stops everything; with `keepState`, the desired state survives so a restart brings it back. */
  async stopAll(keepState: boolean): Promise<void> {
    await Promise.allSettled([...this.entries.values()].map((e) => this.stopEntry(e, "node stopping", keepState)));
  }

  /** The specs of every running workload. */
  specs(): WorkloadSpec[] {
    return [...this.entries.values()].map((e) => e.spec);
  }

  private findByName(ns: string, name: string): Entry | undefined {
    for (const e of this.entries.values()) if (e.spec.namespace === ns && e.spec.name === name) return e;
    return undefined;
  }

  /** Asks the runtimes that keep counters in other processes (runners) for fresh ones. */
  async refreshStats(): Promise<void> {
    await Promise.all([...this.d.runtimes.values()].map((r) => r.refreshStats?.().catch(() => undefined)));
  }

  /** Every running workload with its counters as last refreshed. */
  current(): { spec: WorkloadSpec; stats: WorkloadStats }[] {
    return [...this.entries.values()].map((e) => ({ spec: e.spec, stats: e.handle.stats() }));
  }

  /** Summaries of the workloads in a namespace (or all), freshest counters first fetched from runners. */
  async list(ns: string | undefined, name?: string): Promise<WorkloadSummary[]> {
    await this.refreshStats();
    const out: WorkloadSummary[] = [];
    for (const e of this.entries.values()) {
      if (ns !== undefined && e.spec.namespace !== ns) continue;
      if (name !== undefined && e.spec.name !== name) continue;
      out.push(this.summary(e));
    }
    return out.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  }

  /** The instances of a workload in a namespace, by id or name: summary, spec (env masked) and recent activity. */
  async inspect(ns: string, sel: { id?: string; name?: string }): Promise<WorkloadInspection[]> {
    const targets = [...this.entries.values()].filter((e) => e.spec.namespace === ns && (sel.id ? e.spec.id === sel.id : e.spec.name === sel.name));
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

  private summary(e: Entry): WorkloadSummary {
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
