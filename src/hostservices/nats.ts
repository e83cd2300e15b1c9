/**
 * Host services over a NATS connection: the implementation runners hand to their workloads. Each workload gets
 * its own instance, scoped to its namespace's account by the connection it is built on and to its capabilities
 * by `policy`; HTTP calls pass the egress policy (`egress.ts`). Every call is bounded by a timeout and fails with
 * NEX_E_HOST_SERVICE naming the service and cause.
 *
 * ```ts
 * const hs = new NatsHostServices(nc, { autoCreateBuckets: true });
 * await hs.kvSet("iot", "dev1", new TextEncoder().encode("23"));
 * ```
 */
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from "@nats-io/nats-core";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { NexError, RESERVED_PREFIXES } from "../contract/index.js";
import { isNoResponders, isPermissionViolation, isStreamNotFound, isTimeout } from "../nats/errors.js";
import { EgressPolicy } from "./egress.js";
import { httpRequest } from "./http.js";
import { hostError, type HostFailure, type HostServices, type HttpRequest, type HttpResponse, type ObjectInfoLite } from "./types.js";

/** Host service settings, resolved. */
export interface NatsHostServicesOptions {
  /** Create a missing bucket on first use. */
  autoCreateBuckets: boolean;
  /** Bound for every KV, object store and messaging call. */
  callTimeoutMs?: number;
  /** Default bound for HTTP calls. */
  httpTimeoutMs?: number;
  /** Largest HTTP response body a function may receive. */
  httpMaxBodyBytes?: number;
  /** Cap on any timeout a call asks for (a function's own timeout: a call never outlives its invocation). */
  maxCallMs?: number;
  /** What HTTP calls may reach beyond public addresses (see `EgressPolicy`); default nothing. */
  allowEgress?: readonly string[];
}

/** Defaults for host-service bounds. */
export const HOST_SERVICE_DEFAULTS = {
  callTimeoutMs: 5_000,
  httpTimeoutMs: 10_000,
  httpMaxBodyBytes: 16 * 1024 * 1024,
  requestMaxWaitMs: 60_000,
} as const;

const RESERVED = new RegExp(`^(${RESERVED_PREFIXES.map((p) => p.replace(/\$/g, "\\$")).join("|")})(\\.|$)`, "i");
const BUCKET = /^[A-Za-z0-9_-]{1,64}$/;
const RESERVED_BUCKET = /^NEX_/i;

function fail(service: string, what: string, err?: unknown): NexError {
  if (err instanceof NexError) return err;
  let reason: HostFailure = "failed";
  if (isNoResponders(err)) reason = "no_responders";
  else if (isTimeout(err)) reason = "timeout";
  else if (isPermissionViolation(err)) reason = "denied";
  return hostError(service, reason, what, err);
}

function missingBucket(service: "kv" | "objectStore", bucket: string): NexError {
  const cmd = service === "kv" ? "kv" : "obj";
  return hostError(service, "not_found", `bucket "${bucket}" does not exist, and this node does not create buckets; create it first, e.g. with \`nex ${cmd} put\``);
}

async function bounded<T>(service: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(hostError(service, "timeout", `timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

function toHeaders(h: Record<string, string>): MsgHdrs {
  const out = natsHeaders();
  for (const [k, v] of Object.entries(h)) out.set(k, v);
  return out;
}

/** A KV entry's value; null for a missing, deleted or purged key. */
function entryValue(e: KvEntry | null): Uint8Array | null {
  return e && e.operation === "PUT" ? e.value : null;
}

function info(bucket: string, i: { name: string; size: number; digest: string; mtime: string; chunks: number }): ObjectInfoLite {
  return { bucket, name: i.name, size: i.size, digest: i.digest, mtime: i.mtime, chunks: i.chunks };
}

/** The host services of one workload over one connection. Bucket handles are opened once and cached. */
export class NatsHostServices implements HostServices {
  private readonly js: JetStreamClient;
  private readonly kvs = new Map<string, Promise<KV>>();
  /** The buckets of `kvs` that are open, for the hot path (a get on an open bucket waits for nothing but its reply). */
  private readonly openKvs = new Map<string, KV>();
  private readonly objs = new Map<string, Promise<ObjectStore>>();
  private readonly callMs: number;
  private readonly httpMs: number;
  private readonly httpMax: number;
  private readonly maxCallMs: number;
  private readonly egress: EgressPolicy;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: NatsHostServicesOptions,
  ) {
    this.callMs = opts.callTimeoutMs ?? HOST_SERVICE_DEFAULTS.callTimeoutMs;
    this.httpMs = opts.httpTimeoutMs ?? HOST_SERVICE_DEFAULTS.httpTimeoutMs;
    this.httpMax = opts.httpMaxBodyBytes ?? HOST_SERVICE_DEFAULTS.httpMaxBodyBytes;
    this.maxCallMs = Math.min(opts.maxCallMs ?? HOST_SERVICE_DEFAULTS.requestMaxWaitMs, HOST_SERVICE_DEFAULTS.requestMaxWaitMs);
    this.egress = new EgressPolicy(opts.allowEgress);
    this.js = jetstream(nc, { timeout: this.callMs });
  }

  private bucketName(service: "kv" | "objectStore", bucket: string): string {
    if (!BUCKET.test(bucket)) throw hostError(service, "invalid", `invalid bucket name "${bucket.slice(0, 80)}"`);
    // nex's own buckets and streams (desired state, artifacts, feeds, triggers) are never a function's to touch.
    if (RESERVED_BUCKET.test(bucket)) throw hostError(service, "denied", `bucket "${bucket}" is reserved for nex itself`);
    return bucket;
  }

  private kv(bucket: string): Promise<KV> {
    this.bucketName("kv", bucket);
    let p = this.kvs.get(bucket);
    if (!p) {
      p = this.openKv(bucket).then(
        (kv) => {
          this.openKvs.set(bucket, kv);
          return kv;
        },
        (err: unknown) => {
          this.kvs.delete(bucket);
          throw fail("kv", `bucket "${bucket}" is not available`, err);
        },
      );
      this.kvs.set(bucket, p);
    }
    return p;
  }

  // Kvm.open only binds (a missing bucket would fail later, vaguely, and without direct gets), so look first.
  private async openKv(bucket: string): Promise<KV> {
    const kvm = new Kvm(this.js);
    if (this.opts.autoCreateBuckets) return kvm.create(bucket);
    const jsm = await this.js.jetstreamManager();
    const si = await jsm.streams.info(`KV_${bucket}`).catch((err: unknown) => {
      throw isStreamNotFound(err) ? missingBucket("kv", bucket) : err;
    });
    return kvm.open(bucket, { allow_direct: si.config.allow_direct });
  }

  private obj(bucket: string): Promise<ObjectStore> {
    this.bucketName("objectStore", bucket);
    let p = this.objs.get(bucket);
    if (!p) {
      p = this.openObj(bucket).catch((err: unknown) => {
        this.objs.delete(bucket);
        throw fail("objectStore", `bucket "${bucket}" is not available`, err);
      });
      this.objs.set(bucket, p);
    }
    return p;
  }

  private async openObj(bucket: string): Promise<ObjectStore> {
    const objm = new Objm(this.js);
    if (this.opts.autoCreateBuckets) return objm.create(bucket);
    const jsm = await this.js.jetstreamManager();
    await jsm.streams.info(`OBJ_${bucket}`).catch((err: unknown) => {
      throw isStreamNotFound(err) ? missingBucket("objectStore", bucket) : err;
    });
    return objm.open(bucket);
  }

  private async run<T>(service: string, what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await bounded(service, this.callMs, fn());
    } catch (err) {
      throw fail(service, what, err);
    }
  }

  kvGet(bucket: string, key: string): Promise<Uint8Array | null> {
    const open = this.openKvs.get(bucket);
    // An open bucket's get is one request, bounded by the client's own request timeout (callMs): no second timer.
    if (open) {
      return open.get(key).then(entryValue, (err: unknown) => {
        const what = `get ${bucket}/${key} failed`;
        throw isTimeout(err) ? hostError("kv", "timeout", `${what}: timed out after ${this.callMs} ms`) : fail("kv", what, err);
      });
    }
    return this.run("kv", `get ${bucket}/${key} failed`, async () => entryValue(await (await this.kv(bucket)).get(key)));
  }

  kvSet(bucket: string, key: string, value: Uint8Array): Promise<number> {
    return this.run("kv", `set ${bucket}/${key} failed`, async () => (await this.kv(bucket)).put(key, value));
  }

  kvDelete(bucket: string, key: string): Promise<void> {
    return this.run("kv", `delete ${bucket}/${key} failed`, async () => (await this.kv(bucket)).delete(key));
  }

  kvKeys(bucket: string, filter?: string): Promise<string[]> {
    return this.run("kv", `keys of ${bucket} failed`, async () => {
      const out: string[] = [];
      for await (const k of await (await this.kv(bucket)).keys(filter)) out.push(k);
      return out.sort();
    });
  }

  objGet(bucket: string, name: string): Promise<Uint8Array | null> {
    return this.run("objectStore", `get ${bucket}/${name} failed`, async () => (await this.obj(bucket)).getBlob(name));
  }

  objPut(bucket: string, name: string, data: Uint8Array): Promise<ObjectInfoLite> {
    return this.run("objectStore", `put ${bucket}/${name} failed`, async () => info(bucket, await (await this.obj(bucket)).putBlob({ name }, data)));
  }

  objDelete(bucket: string, name: string): Promise<boolean> {
    return this.run("objectStore", `delete ${bucket}/${name} failed`, async () => {
      const os = await this.obj(bucket);
      const i = await os.info(name);
      if (i === null || i.deleted) return false;
      await os.delete(name);
      return true;
    });
  }

  objList(bucket: string): Promise<ObjectInfoLite[]> {
    return this.run("objectStore", `list ${bucket} failed`, async () => {
      const list = await (await this.obj(bucket)).list();
      return list.filter((i) => !i.deleted).map((i) => info(bucket, i));
    });
  }

  private checkSubject(subject: string): void {
    if (/[\s\0]/.test(subject) || subject.length > 1024) throw hostError("messaging", "invalid", `invalid subject "${subject.slice(0, 80)}"`);
    if (RESERVED.test(subject)) throw hostError("messaging", "denied", `subject "${subject}" is reserved`);
  }

  async publish(subject: string, data: Uint8Array, headers?: Record<string, string>): Promise<void> {
    this.checkSubject(subject);
    try {
      this.nc.publish(subject, data, headers ? { headers: toHeaders(headers) } : undefined);
    } catch (err) {
      throw fail("messaging", `publish to ${subject} failed`, err);
    }
  }

  async request(subject: string, data: Uint8Array, timeoutMs = this.callMs, headers?: Record<string, string>): Promise<Uint8Array> {
    this.checkSubject(subject);
    try {
      const m = await this.nc.request(subject, data, { timeout: this.cap(timeoutMs), headers: headers && toHeaders(headers) });
      return m.data;
    } catch (err) {
      throw fail("messaging", `request to ${subject} failed`, err);
    }
  }

  async requestMany(subject: string, data: Uint8Array, maxWaitMs = 1_000, maxMessages = 0, headers?: Record<string, string>): Promise<Uint8Array[]> {
    this.checkSubject(subject);
    const out: Uint8Array[] = [];
    try {
      const it = await this.nc.requestMany(subject, data, {
        strategy: maxMessages > 0 ? "count" : "timer",
        maxWait: this.cap(maxWaitMs),
        maxMessages: maxMessages > 0 ? maxMessages : undefined,
        headers: headers && toHeaders(headers),
      });
      for await (const m of it) out.push(m.data);
    } catch (err) {
      if (!isNoResponders(err)) throw fail("messaging", `requestMany to ${subject} failed`, err);
    }
    return out;
  }

  http(req: HttpRequest): Promise<HttpResponse> {
    return httpRequest(req, { timeoutMs: this.cap(req.timeoutMs ?? this.httpMs), maxBodyBytes: this.httpMax, egress: this.egress });
  }

  private cap(ms: number): number {
    return Math.max(1, Math.min(ms, this.maxCallMs));
  }
}
