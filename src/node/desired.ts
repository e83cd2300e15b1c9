/**
 * Desired state: one entry per workload (`<ns>.<name>` in NEX_STATE), holding its spec, replica count and generation,
 * signed by the node that accepted the deploy. Where it runs is observed state (leases.ts), never part of the entry.
 *
 * Entries are tamper-evident: the value is `{payload, signer, sig}` where `sig` is the signer node's ed25519 signature
 * of the payload text, so nothing is canonicalised. An entry whose signature fails, or whose signer is no node this
 * node trusts, is refused (and reported), never run.
 *
 * The bucket has `allow_direct: false`: on nats-server 2.9 a direct get right after a put can return stale data.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import { DEPLOY_DEFAULTS, STATE_BUCKET, WORKLOAD_TYPES, isWorkloadType, subjects, type WorkloadSpec } from "../contract/index.js";
import { clusterReplicas, retryStoreCreation, upgradeReplicas } from "../nats/streams.js";
import { verifyBy, type FastKeyPair } from "../nats/nkeys.js";

/** A workload as stored: an instance spec without its instance id. */
export type WorkloadTemplate = Omit<WorkloadSpec, "id">;

/** One desired workload. */
export interface Desired {
  key: string;
  template: WorkloadTemplate;
  /** A job that ran to completion: not run again. */
  done?: { exitCode: number; at: string };
  /** The node that wrote the entry. */
  signer: string;
  /** The KV revision it was read at. */
  revision: number;
}

interface Stored {
  payload: string;
  signer: string;
  sig: string;
}

interface Payload {
  v: 1;
  key: string;
  template: WorkloadTemplate;
  done?: { exitCode: number; at: string };
}

/** Why an entry was refused. */
export type Refusal = { key: string; reason: string };

/** Opens (creating when missing, replicated on a cluster) a control-plane KV bucket. */
export async function openBucket(nc: NatsConnection, name: string, opts: { allowDirect: boolean; description: string }, log: (line: string) => void): Promise<KV> {
  const js = jetstream(nc, { timeout: 5_000 });
  const replicas = clusterReplicas(nc);
  const kv = await retryStoreCreation(() =>
    new Kvm(js).create(name, { history: 1, allow_direct: opts.allowDirect, replicas, description: opts.description }),
  );
  const warning = await upgradeReplicas(await js.jetstreamManager(), `KV_${name}`, replicas).catch((err: Error) => err.message);
  if (warning) log(`warning: ${warning}`);
  return kv;
}

/** Reads, writes and verifies desired state. */
export class DesiredStore {
  private constructor(
    private kv: KV,
    private readonly signer: FastKeyPair,
    private readonly nodeId: string,
    /** True when `nodeId` is a node this node trusts as a writer of desired state. */
    private readonly trusted: (nodeId: string) => boolean,
  ) {}

  /** Opens the state bucket. */
  static async open(nc: NatsConnection, signer: FastKeyPair, trusted: (nodeId: string) => boolean, log: (line: string) => void): Promise<DesiredStore> {
    const kv = await openBucket(nc, STATE_BUCKET, { allowDirect: false, description: "nex-ts desired state" }, log);
    return new DesiredStore(kv, signer, signer.getPublicKey(), trusted);
  }

  /** The underlying bucket (for watching). */
  get bucket(): KV {
    return this.kv;
  }

  /** Replaces the bucket handle (after the bucket was lost and made again). */
  reopen(kv: KV): void {
    this.kv = kv;
  }

  private encode(key: string, template: WorkloadTemplate, done?: Desired["done"]): string {
    const p: Payload = { v: 1, key, template, ...(done ? { done } : {}) };
    const payload = JSON.stringify(p);
    const sig = Buffer.from(this.signer.sign(new TextEncoder().encode(payload))).toString("base64");
    const stored: Stored = { payload, signer: this.nodeId, sig };
    return JSON.stringify(stored);
  }

  /** Verifies and reads one stored value; a refusal says why. */
  decode(entry: KvEntry): Desired | Refusal {
    const key = entry.key;
    let s: Stored;
    try {
      s = entry.json<Stored>();
    } catch {
      return { key, reason: "the entry is not JSON" };
    }
    if (typeof s?.payload !== "string" || typeof s.signer !== "string" || typeof s.sig !== "string") return { key, reason: "the entry is not signed" };
    if (!verifyBy(s.signer, new TextEncoder().encode(s.payload), Buffer.from(s.sig, "base64"))) return { key, reason: `the signature of ${s.signer} does not verify` };
    if (s.signer !== this.nodeId && !this.trusted(s.signer)) return { key, reason: `it is signed by ${s.signer}, which is no node this node knows` };
    let p: Payload;
    try {
      p = JSON.parse(s.payload) as Payload;
    } catch {
      return { key, reason: "the signed payload is not JSON" };
    }
    if (p.v !== 1 || p.key !== key) return { key, reason: "the signed payload belongs to another key" };
    if (p.template === null || typeof p.template !== "object") return { key, reason: "the signed payload has no spec" };
    const t = upgraded(p.template);
    if (subjects.desiredKey(t.namespace, t.name) !== key) return { key, reason: "the spec names another workload" };
    return { key, template: t, done: p.done, signer: s.signer, revision: entry.revision };
  }

  /** The desired entry of one workload (fresh from the store), or undefined. */
  async get(key: string): Promise<Desired | Refusal | undefined> {
    const e = await this.kv.get(key);
    if (!e || e.operation !== "PUT") return undefined;
    return this.decode(e);
  }

  /** Stores a workload's desired state, signed by this node. */
  async put(template: WorkloadTemplate, done?: Desired["done"]): Promise<number> {
    const key = subjects.desiredKey(template.namespace, template.name);
    return this.kv.put(key, this.encode(key, template, done));
  }

  /** Puts a desired entry back exactly as another node signed it (after the bucket was lost and made again). */
  async restore(d: Desired, raw: string): Promise<void> {
    await this.kv.put(d.key, raw);
  }

  /** Forgets a workload. */
  async remove(key: string): Promise<void> {
    await this.kv.delete(key);
  }
}

/** True when `x` is a refusal. */
export function isRefusal(x: Desired | Refusal | undefined): x is Refusal {
  return x !== undefined && "reason" in x;
}

/** A stored spec with the fields added since it was recorded filled in with their defaults. */
function upgraded(t: WorkloadTemplate): WorkloadTemplate {
  const fill: Partial<WorkloadTemplate> = {};
  if (typeof t.maxConcurrency !== "number" && isWorkloadType(t.type)) fill.maxConcurrency = WORKLOAD_TYPES[t.type].defaultMaxConcurrency;
  if (typeof t.maxDeliver !== "number") fill.maxDeliver = DEPLOY_DEFAULTS.maxDeliver;
  if (!Array.isArray(t.backoff)) fill.backoff = [...DEPLOY_DEFAULTS.backoff];
  if (typeof t.noOverlap !== "boolean") fill.noOverlap = false;
  return Object.keys(fill).length === 0 ? t : { ...t, ...fill };
}
