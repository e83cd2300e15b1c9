/**
 * In-memory host services: KV, object store and messaging in maps, HTTP through a function you give. Engine tests
 * drive the v8 and wasm engines with it, with no nats-server; it is also handy for testing a function on its own.
 *
 * ```ts
 * const hs = new MemoryHostServices({ responders: { "time.now": () => "12:00" } });
 * await hs.kvSet("iot", "dev1", new TextEncoder().encode("23"));
 * ```
 */
import { createHash } from "node:crypto";
import { hostError, type HostServices, type HttpRequest, type HttpResponse, type ObjectInfoLite } from "./types.js";

const enc = new TextEncoder();

/** A responder for `request`: returns the reply, or throws. */
export type MemoryResponder = (data: Uint8Array, subject: string) => Uint8Array | string | Promise<Uint8Array | string>;

/** Settings of the in-memory services. */
export interface MemoryHostServicesOptions {
  /** Replies to `request` and `requestMany`, by exact subject. */
  responders?: Record<string, MemoryResponder>;
  /** Answers `http`; by default every HTTP call fails. */
  http?: (req: HttpRequest) => HttpResponse | Promise<HttpResponse>;
  /** When false, a bucket must be created (`createBucket`) before use. Default true. */
  autoCreateBuckets?: boolean;
}

function toBytes(v: Uint8Array | string): Uint8Array {
  return typeof v === "string" ? enc.encode(v) : v;
}

function keyMatches(filter: string | undefined, key: string): boolean {
  if (filter === undefined || filter === ">") return true;
  const f = filter.split(".");
  const k = key.split(".");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return k.length > i;
    if (i >= k.length || (f[i] !== "*" && f[i] !== k[i])) return false;
  }
  return f.length === k.length;
}

/** Host services kept in memory. Everything a function did is visible in `kv`, `objects` and `published`. */
export class MemoryHostServices implements HostServices {
  /** bucket → key → value */
  readonly kv = new Map<string, Map<string, Uint8Array>>();
  /** bucket → name → data */
  readonly objects = new Map<string, Map<string, { data: Uint8Array; mtime: string }>>();
  /** Every publish, in order. */
  readonly published: { subject: string; data: Uint8Array }[] = [];
  private revision = 0;

  constructor(private readonly opts: MemoryHostServicesOptions = {}) {}

  /** Creates an empty bucket (needed when `autoCreateBuckets` is false). */
  createBucket(kind: "kv" | "objectStore", name: string): void {
    if (kind === "kv") this.kv.set(name, this.kv.get(name) ?? new Map());
    else this.objects.set(name, this.objects.get(name) ?? new Map());
  }

  private bucket<T>(service: "kv" | "objectStore", all: Map<string, Map<string, T>>, name: string): Map<string, T> {
    let b = all.get(name);
    if (!b) {
      if (this.opts.autoCreateBuckets === false) throw hostError(service, "not_found", `bucket "${name}" does not exist`);
      b = new Map();
      all.set(name, b);
    }
    return b;
  }

  async kvGet(bucket: string, key: string): Promise<Uint8Array | null> {
    return this.bucket("kv", this.kv, bucket).get(key)?.slice() ?? null;
  }

  async kvSet(bucket: string, key: string, value: Uint8Array): Promise<number> {
    this.bucket("kv", this.kv, bucket).set(key, value.slice());
    return ++this.revision;
  }

  async kvDelete(bucket: string, key: string): Promise<void> {
    this.bucket("kv", this.kv, bucket).delete(key);
  }

  async kvKeys(bucket: string, filter?: string): Promise<string[]> {
    return [...this.bucket("kv", this.kv, bucket).keys()].filter((k) => keyMatches(filter, k)).sort();
  }

  private info(bucket: string, name: string, o: { data: Uint8Array; mtime: string }): ObjectInfoLite {
    const digest = `SHA-256=${createHash("sha256").update(o.data).digest("base64url")}`;
    return { bucket, name, size: o.data.length, digest, mtime: o.mtime, chunks: Math.ceil(o.data.length / 131_072) };
  }

  async objGet(bucket: string, name: string): Promise<Uint8Array | null> {
    return this.bucket("objectStore", this.objects, bucket).get(name)?.data.slice() ?? null;
  }

  async objPut(bucket: string, name: string, data: Uint8Array): Promise<ObjectInfoLite> {
    const o = { data: data.slice(), mtime: new Date().toISOString() };
    this.bucket("objectStore", this.objects, bucket).set(name, o);
    return this.info(bucket, name, o);
  }

  async objDelete(bucket: string, name: string): Promise<boolean> {
    return this.bucket("objectStore", this.objects, bucket).delete(name);
  }

  async objList(bucket: string): Promise<ObjectInfoLite[]> {
    return [...this.bucket("objectStore", this.objects, bucket)].map(([name, o]) => this.info(bucket, name, o));
  }

  async publish(subject: string, data: Uint8Array): Promise<void> {
    this.published.push({ subject, data: data.slice() });
  }

  async request(subject: string, data: Uint8Array): Promise<Uint8Array> {
    const r = this.opts.responders?.[subject];
    if (!r) throw hostError("messaging", "no_responders", `request to ${subject} failed: no responders`);
    return toBytes(await r(data, subject));
  }

  async requestMany(subject: string, data: Uint8Array): Promise<Uint8Array[]> {
    const r = this.opts.responders?.[subject];
    return r ? [toBytes(await r(data, subject))] : [];
  }

  async http(req: HttpRequest): Promise<HttpResponse> {
    if (!this.opts.http) throw hostError("http", "failed", `${req.method.toUpperCase()} ${req.url} failed: no HTTP in this test`);
    return this.opts.http(req);
  }
}
