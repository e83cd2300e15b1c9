/**
 * Desired state: one KV entry per node and workload (key `<nodeId>.<workloadId>`), holding the accepted spec.
 * A node that restarts reads its entries back and redeploys them. The bucket has `allow_direct: false`, because
 * on 2.9 a direct get can return stale data right after a put (see docs/design.md).
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { STATE_BUCKET, WORKLOAD_TYPES, isWorkloadType, subjects, type WorkloadSpec } from "../contract/index.js";

/** A stored spec with the fields added since it was recorded filled in with their defaults. */
function upgraded(spec: WorkloadSpec): WorkloadSpec {
  if (typeof spec.maxConcurrency !== "number" && isWorkloadType(spec.type)) spec.maxConcurrency = WORKLOAD_TYPES[spec.type].defaultMaxConcurrency;
  return spec;
}

/** Reads and writes a node's desired state. */
export class StateStore {
  private constructor(
    private readonly kv: KV,
    private readonly nodeId: string,
  ) {}

  /** Opens (creating when missing) the state bucket. */
  static async open(nc: NatsConnection, nodeId: string): Promise<StateStore> {
    const kvm = new Kvm(jetstream(nc, { timeout: 5_000 }));
    const kv = await kvm.create(STATE_BUCKET, { history: 1, allow_direct: false, description: "nex-ts desired state" });
    return new StateStore(kv, nodeId);
  }

  /** Records a workload as desired. */
  async save(spec: WorkloadSpec): Promise<void> {
    await this.kv.put(subjects.stateKey(this.nodeId, spec.id), JSON.stringify(spec));
  }

  /** Forgets a workload (of this node, or of another node whose workloads were moved). */
  async remove(workloadId: string, nodeId = this.nodeId): Promise<void> {
    await this.kv.purge(subjects.stateKey(nodeId, workloadId));
  }

  /** Every workload this node should be running. Entries that no longer parse are skipped and reported. */
  async load(onBad: (key: string, err: Error) => void): Promise<WorkloadSpec[]> {
    return (await this.entries(this.nodeId, onBad)).map((e) => e.spec);
  }

  /** A node's desired workloads with their KV revisions (used to claim a dead node's workloads). */
  async entries(nodeId: string, onBad: (key: string, err: Error) => void = () => undefined): Promise<{ spec: WorkloadSpec; revision: number }[]> {
    const out: { spec: WorkloadSpec; revision: number }[] = [];
    const keys: string[] = [];
    for await (const k of await this.kv.keys(subjects.stateKeyFilter(nodeId))) keys.push(k);
    for (const k of keys) {
      const e = await this.kv.get(k);
      if (!e || e.operation !== "PUT") continue;
      try {
        out.push({ spec: upgraded(e.json<WorkloadSpec>()), revision: e.revision });
      } catch (err) {
        onBad(k, err as Error);
      }
    }
    return out.sort((a, b) => a.spec.createdAt.localeCompare(b.spec.createdAt));
  }
}
