/**
 * What the control API asks of desired state: deploy (store the spec, then start the first instance; either failing
 * undoes the other), stop (forget the workload everywhere, or stop one instance), and place (start one more instance
 * of a stored workload, on a claim winner's request).
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { NexError, durableTriggers, isFunctionType, subjects, type DeployReply, type RequestedWorkload, type StopReply } from "../contract/index.js";
import { NexClient } from "../client/index.js";
import type { ArtifactStore } from "./artifacts.js";
import type { DurableTriggers } from "./durable.js";
import { isRefusal, type DesiredStore, type WorkloadTemplate } from "./desired.js";
import type { Leases } from "./leases.js";
import type { Reconciler } from "./reconciler.js";
import type { WorkloadManager } from "./workloads.js";

/** What the operations need from their node. */
export interface OperationsDeps {
  nc: NatsConnection;
  nodeId: string;
  sandbox: boolean;
  desired: DesiredStore | undefined;
  leases: Leases | undefined;
  reconciler: Reconciler | undefined;
  workloads: WorkloadManager;
  artifacts: ArtifactStore;
  /** Durable trigger streams; absent without JetStream. */
  durable: DurableTriggers | undefined;
  /** Why this node cannot run `t`, or undefined. */
  cannotRun(t: WorkloadTemplate): string | undefined;
}

/** The node's side of DEPLOY, STOP and PLACE. */
export class Operations {
  constructor(private readonly d: OperationsDeps) {}

  /**
   * Deploys: the artifact is fetched and verified (its sha256 is pinned in the spec), the spec is stored, and the first
   * instance starts here. If the start fails, the store is put back as it was; if the store fails, nothing starts.
   */
  async deploy(req: RequestedWorkload): Promise<DeployReply> {
    const t0 = performance.now();
    const key = subjects.desiredKey(req.namespace, req.name);
    return this.d.workloads.serialized(key, async () => {
      let previous: Awaited<ReturnType<DesiredStore["get"]>>;
      try {
        previous = this.d.desired ? await this.d.desired.get(key) : undefined;
      } catch (err) {
        throw new NexError("NEX_E_DEPLOY_FAILED", `the desired state cannot be read, so nothing was started: ${(err as Error).message}`, { cause: err });
      }
      const previousRaw = previous && !isRefusal(previous) ? this.d.reconciler?.rawOf(key) : undefined;
      const generation = (previous && !isRefusal(previous) ? previous.template.generation : 0) + 1;
      // Refused before the artifact is fetched: a type this node lacks, its maximums, a full node.
      this.d.workloads.admit(req);
      // A function that is no longer durable leaves its stream only when nothing is waiting in it.
      if (this.d.durable && durableTriggers(req).length === 0 && isFunctionType(req.type)) await this.d.durable.retire(req.namespace, req.name);
      // Only a native workload without the sandbox executes the cache file itself.
      const executable = req.type === "native" && !this.d.sandbox;
      const artifact = await this.d.artifacts.fetch(req.namespace, req.location, req.sha256, { executable });
      const template: WorkloadTemplate = {
        ...req,
        sha256: artifact.sha256,
        createdAt: new Date().toISOString(),
        generation,
        sandboxed: req.type === "native" && this.d.sandbox,
      };
      const why = this.d.cannotRun(template);
      if (why) throw new NexError("NEX_E_UNSUPPORTED_TYPE", why);
      if (this.d.desired) {
        // The other nodes count this first instance as coming, so they do not place one of their own meanwhile.
        this.d.reconciler?.announce(req.namespace, req.name, generation);
        try {
          await this.d.desired.put(template);
        } catch (err) {
          throw new NexError("NEX_E_DEPLOY_FAILED", `the desired state could not be saved, so nothing was started: ${(err as Error).message}`, { cause: err });
        }
      }
      let id: string;
      try {
        id = (await this.d.workloads.start(template, { event: "deployed" })).spec.id;
      } catch (err) {
        await this.undo(key, previousRaw);
        throw err;
      }
      // The new instance serves before the old ones go: a redeploy drops no messages. Others replace theirs.
      const replaced: string[] = [];
      for (const old of this.d.workloads.of(key)) {
        if (old.spec.generation === generation) continue;
        await this.d.workloads.stop(old.spec.id, `replaced by generation ${generation}`);
        replaced.push(old.spec.id);
      }
      this.d.reconciler?.kick();
      return {
        id,
        name: req.name,
        namespace: req.namespace,
        nodeId: this.d.nodeId,
        type: req.type,
        replaced: replaced[0],
        deployMs: Math.round((performance.now() - t0) * 100) / 100,
        generation,
        replicas: req.replicas,
      };
    });
  }

  /** Puts the desired state back as it was before a failed deploy. */
  private async undo(key: string, previousRaw: string | undefined): Promise<void> {
    if (!this.d.desired) return;
    try {
      if (previousRaw !== undefined) await this.d.desired.bucket.put(key, previousRaw);
      else await this.d.desired.remove(key);
    } catch {
      // The reconciler still sees a spec that does not start, and shows it as failing.
    }
  }

  /**
   * Stops by name (the workload is forgotten: every instance everywhere stops) or by id (that instance stops; the
   * workload's other replicas, and the reconciler's replacement of this one, go on).
   */
  async stop(ns: string, sel: { id?: string; name?: string; deleteStream?: boolean }): Promise<StopReply> {
    if (sel.id !== undefined) {
      const inst = this.d.workloads.get(sel.id);
      if (!inst || inst.spec.namespace !== ns) throw new NexError("NEX_E_NOT_FOUND", `no workload with id ${sel.id} in namespace ${ns} on this node`);
      await this.d.workloads.stop(sel.id, "stopped");
      return { stopped: [{ id: inst.spec.id, name: inst.spec.name }] };
    }
    const key = subjects.desiredKey(ns, sel.name!);
    return this.d.workloads.serialized(key, async () => {
      const known = this.d.desired ? await this.d.desired.get(key) : undefined;
      const here = this.d.workloads.of(key);
      const elsewhere = (this.d.leases?.instancesOf(key) ?? []).filter((x) => x.nodeId !== this.d.nodeId);
      if (!known && here.length === 0 && elsewhere.length === 0) {
        // A stream kept by an earlier stop can still be deleted on its own.
        if (sel.deleteStream && (await this.d.durable?.remove(ns, sel.name!))) return { stopped: [], deletedStream: subjects.triggerStream(ns, sel.name!) };
        throw new NexError("NEX_E_NOT_FOUND", `no workload named "${sel.name}" in namespace ${ns}`);
      }
      if (known) await this.d.desired!.remove(key);
      const stopped: StopReply["stopped"] = [];
      for (const i of here) {
        await this.d.workloads.stop(i.spec.id, "stopped");
        stopped.push({ id: i.spec.id, name: i.spec.name });
      }
      // The other nodes see the entry go and stop theirs; asking them directly makes the stop take effect now.
      const client = new NexClient(this.d.nc, { namespace: ns, timeoutMs: 5_000 });
      await Promise.all(
        elsewhere.map(async (x) => {
          const r = await client.request<StopReply>("STOP", x.nodeId, { id: x.inst.id }).catch(() => undefined);
          stopped.push(...(r?.stopped ?? [{ id: x.inst.id, name: x.inst.name }]));
        }),
      );
      const reply: StopReply = { stopped };
      // A durable function's unprocessed messages are kept unless asked otherwise: the next deploy runs them.
      if (this.d.durable) {
        if (sel.deleteStream) {
          if (await this.d.durable.remove(ns, sel.name!)) reply.deletedStream = subjects.triggerStream(ns, sel.name!);
        } else {
          const left = await this.d.durable.left(ns, sel.name!).catch(() => undefined);
          if (left) reply.keptStream = left;
        }
      }
      return reply;
    });
  }

  /** Starts one more instance of a stored workload at `generation` (a claim winner placed it here). */
  async place(ns: string, name: string, generation: number): Promise<{ id: string }> {
    const key = subjects.desiredKey(ns, name);
    return this.d.workloads.serialized(key, async () => {
      const d = this.d.desired ? await this.d.desired.get(key) : undefined;
      if (!d) throw new NexError("NEX_E_NOT_FOUND", `no workload named "${name}" in namespace ${ns}`);
      if (isRefusal(d)) throw new NexError("NEX_E_FORBIDDEN", `the stored spec of ${name} is refused: ${d.reason}`);
      if (d.template.generation !== generation) throw new NexError("NEX_E_CONFLICT", `${name} is at generation ${d.template.generation}, not ${generation}`);
      if (d.done) throw new NexError("NEX_E_CONFLICT", `${name} is a job that already ran`);
      const why = this.d.cannotRun(d.template);
      if (why) throw new NexError("NEX_E_UNSUPPORTED_TYPE", why);
      if (d.template.spread && this.d.workloads.of(key).some((i) => i.spec.generation === generation)) {
        throw new NexError("NEX_E_CONFLICT", `${name} spreads across nodes, and this node runs one already`);
      }
      const inst = await this.d.workloads.start(d.template, { event: "placed" });
      this.d.reconciler?.kick();
      return { id: inst.spec.id };
    });
  }
}
