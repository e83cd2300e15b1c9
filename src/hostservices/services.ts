/**
 * Host services: what a function may do outside its sandbox: KV, object store, messaging and HTTP.
 * One implementation serves every function engine (v8 bindings, wasm imports). Every call is bounded by a
 * timeout and fails with a NexError (NEX_E_HOST_SERVICE) whose message names the service and the cause.
 *
 * ```ts
 * const hs = new HostServices(nc, { autoCreateBuckets: true });
 * await hs.kvSet("iot", "dev1", new TextEncoder().encode("23"));
 * ```
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { NexError } from "../contract/index.js";

/** Host service settings, resolved. */
export interface HostServicesOptions {
  /** Create a missing bucket on first use. */
  autoCreateBuckets: boolean;
  /** Bound for every KV, object store and messaging call. */
  callTimeoutMs?: number;
  /** Default bound for HTTP calls. */
  httpTimeoutMs?: number;
  /** Largest HTTP response body a function may receive. */
  httpMaxBodyBytes?: number;
}

/** Object metadata as functions see it. */
export interface ObjectInfoLite {
  bucket: string;
  name: string;
  size: number;
  digest: string;
  mtime: string;
  chunks: number;
}

/** An HTTP response as functions see it (`response` is the body as text). */
export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  response: string;
}

/** An HTTP response with the body as bytes (for `fetch`). */
export interface HttpBytesResult {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** HTTP methods functions may use. */
export const HTTP_METHODS = ["get", "post", "put", "patch", "delete", "head"] as const;
/** One HTTP method. */
export type HttpMethod = (typeof HTTP_METHODS)[number];

const RESERVED_PUBLISH = /^(\$SYS|\$JS|\$NEX|\$KV|\$O|\$SRV)(\.|$)/i;
const BUCKET = /^[A-Za-z0-9_-]{1,64}$/;

function fail(service: string, what: string, err?: unknown): NexError {
  const cause = err === undefined ? "" : `: ${err instanceof Error ? err.message : String(err)}`;
  return new NexError("NEX_E_HOST_SERVICE", `${service}: ${what}${cause}`, { cause: err });
}

function missingBucket(service: string, bucket: string): NexError {
  return fail(service, `bucket "${bucket}" does not exist, and this node does not create buckets (autoCreateBuckets is off); create it first, e.g. with \`nex ${service === "kv" ? "kv" : "obj"} put\``);
}

async function bounded<T>(service: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(fail(service, `timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** The host services of one runner connection. Bucket handles are opened once and cached. */
export class HostServices {
  private readonly js: JetStreamClient;
  private readonly kvs = new Map<string, Promise<KV>>();
  private readonly objs = new Map<string, Promise<ObjectStore>>();
  private readonly callMs: number;
  private readonly httpMs: number;
  private readonly httpMax: number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: HostServicesOptions,
  ) {
    this.callMs = opts.callTimeoutMs ?? 5_000;
    this.httpMs = opts.httpTimeoutMs ?? 10_000;
    this.httpMax = opts.httpMaxBodyBytes ?? 16 * 1024 * 1024;
    this.js = jetstream(nc, { timeout: this.callMs });
  }

  private kv(bucket: string): Promise<KV> {
    if (!BUCKET.test(bucket)) return Promise.reject(fail("kv", `invalid bucket name "${bucket}"`));
    let p = this.kvs.get(bucket);
    if (!p) {
      p = this.openKv(bucket).catch((err: unknown) => {
        this.kvs.delete(bucket);
        throw err instanceof NexError ? err : fail("kv", `bucket "${bucket}" is not available`, err);
      });
      this.kvs.set(bucket, p);
    }
    return p;
  }

  // Kvm.open only binds (a missing bucket would fail later, vaguely, and without direct gets), so look first.
  private async openKv(bucket: string): Promise<KV> {
    const kvm = new Kvm(this.js);
    if (this.opts.autoCreateBuckets) return kvm.create(bucket);
    const jsm = await this.js.jetstreamManager();
    const info = await jsm.streams.info(`KV_${bucket}`).catch((err: unknown) => {
      if (/stream not found/i.test((err as Error).message)) throw missingBucket("kv", bucket);
      throw err;
    });
    return kvm.open(bucket, { allow_direct: info.config.allow_direct });
  }

  private obj(bucket: string): Promise<ObjectStore> {
    if (!BUCKET.test(bucket)) return Promise.reject(fail("objectStore", `invalid bucket name "${bucket}"`));
    let p = this.objs.get(bucket);
    if (!p) {
      const objm = new Objm(this.js);
      p = (this.opts.autoCreateBuckets ? objm.create(bucket) : objm.open(bucket)).catch((err: unknown) => {
        this.objs.delete(bucket);
        if (!this.opts.autoCreateBuckets && /not found/i.test((err as Error).message)) throw missingBucket("objectStore", bucket);
        throw fail("objectStore", `bucket "${bucket}" is not available`, err);
      });
      this.objs.set(bucket, p);
    }
    return p;
  }

  private async run<T>(service: string, what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await bounded(service, this.callMs, fn());
    } catch (err) {
      if (err instanceof NexError) throw err;
      throw fail(service, what, err);
    }
  }

  /** The value of `key`, or null when it is missing or deleted. */
  kvGet(bucket: string, key: string): Promise<Uint8Array | null> {
    return this.run("kv", `get ${bucket}/${key} failed`, async () => {
      const e = await (await this.kv(bucket)).get(key);
      return e && e.operation === "PUT" ? e.value : null;
    });
  }

  /** Sets `key`; returns the new revision. */
  kvSet(bucket: string, key: string, value: Uint8Array): Promise<number> {
    return this.run("kv", `set ${bucket}/${key} failed`, async () => (await this.kv(bucket)).put(key, value));
  }

  /** Deletes `key` (a missing key is not an error). */
  kvDelete(bucket: string, key: string): Promise<void> {
    return this.run("kv", `delete ${bucket}/${key} failed`, async () => (await this.kv(bucket)).delete(key));
  }

  /** The keys of a bucket, optionally filtered (`a.*`, `a.>`). */
  kvKeys(bucket: string, filter?: string): Promise<string[]> {
    return this.run("kv", `keys of ${bucket} failed`, async () => {
      const out: string[] = [];
      for await (const k of await (await this.kv(bucket)).keys(filter)) out.push(k);
      return out.sort();
    });
  }

  /** An object's bytes, or null when it is missing. */
  objGet(bucket: string, name: string): Promise<Uint8Array | null> {
    return this.run("objectStore", `get ${bucket}/${name} failed`, async () => (await this.obj(bucket)).getBlob(name));
  }

  /** Stores an object; returns its info. */
  objPut(bucket: string, name: string, data: Uint8Array): Promise<ObjectInfoLite> {
    return this.run("objectStore", `put ${bucket}/${name} failed`, async () => {
      const info = await (await this.obj(bucket)).putBlob({ name }, data);
      return { bucket, name: info.name, size: info.size, digest: info.digest, mtime: info.mtime, chunks: info.chunks };
    });
  }

  /** Deletes an object; true when it existed. */
  objDelete(bucket: string, name: string): Promise<boolean> {
    return this.run("objectStore", `delete ${bucket}/${name} failed`, async () => {
      const os = await this.obj(bucket);
      const info = await os.info(name);
      if (info === null || info.deleted) return false;
      await os.delete(name);
      return true;
    });
  }

  /** Lists a bucket's objects. */
  objList(bucket: string): Promise<ObjectInfoLite[]> {
    return this.run("objectStore", `list ${bucket} failed`, async () => {
      const list = await (await this.obj(bucket)).list();
      return list
        .filter((i) => !i.deleted)
        .map((i) => ({ bucket, name: i.name, size: i.size, digest: i.digest, mtime: i.mtime, chunks: i.chunks }));
    });
  }

  private checkSubject(subject: string): void {
    if (typeof subject !== "string" || subject.length === 0 || /\s/.test(subject)) throw fail("messaging", `invalid subject "${subject}"`);
    if (RESERVED_PUBLISH.test(subject)) throw fail("messaging", `subject "${subject}" is reserved`);
  }

  /** Publishes a message. */
  async publish(subject: string, data: Uint8Array): Promise<void> {
    this.checkSubject(subject);
    try {
      this.nc.publish(subject, data);
    } catch (err) {
      throw fail("messaging", `publish to ${subject} failed`, err);
    }
  }

  /** Sends a request and returns the reply's bytes. */
  async request(subject: string, data: Uint8Array, timeoutMs = this.callMs): Promise<Uint8Array> {
    this.checkSubject(subject);
    try {
      const m = await this.nc.request(subject, data, { timeout: Math.min(timeoutMs, 60_000) });
      return m.data;
    } catch (err) {
      throw fail("messaging", `request to ${subject} failed`, err);
    }
  }

  /** Sends a request and collects every reply that arrives within `maxWaitMs` (or until `maxMessages`). */
  async requestMany(subject: string, data: Uint8Array, maxWaitMs = 1_000, maxMessages = 0): Promise<Uint8Array[]> {
    this.checkSubject(subject);
    const out: Uint8Array[] = [];
    try {
      const it = await this.nc.requestMany(subject, data, {
        strategy: maxMessages > 0 ? "count" : "timer",
        maxWait: Math.min(maxWaitMs, 60_000),
        maxMessages: maxMessages > 0 ? maxMessages : undefined,
      });
      for await (const m of it) out.push(m.data);
    } catch (err) {
      if (!/no responders/i.test((err as Error).message)) throw fail("messaging", `requestMany to ${subject} failed`, err);
    }
    return out;
  }

  /** Makes an HTTP request. `response` is the body as text. */
  async http(method: HttpMethod, url: string, body?: Uint8Array, opts: { headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpResult> {
    const r = await this.httpBytes(method, url, body, opts);
    return { status: r.status, headers: r.headers, response: new TextDecoder().decode(r.body) };
  }

  /** Makes an HTTP request and keeps the body as bytes. */
  async httpBytes(method: HttpMethod, url: string, body?: Uint8Array, opts: { headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpBytesResult> {
    if (!HTTP_METHODS.includes(method)) throw fail("http", `unsupported method "${method}"`);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw fail("http", `invalid URL "${url}"`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw fail("http", `only http and https URLs are allowed, not ${u.protocol}`);
    const timeoutMs = Math.min(opts.timeoutMs ?? this.httpMs, 120_000);
    try {
      const res = await fetch(u, {
        method: method.toUpperCase(),
        headers: opts.headers,
        body: body && method !== "get" && method !== "head" ? body : undefined,
        signal: AbortSignal.timeout(timeoutMs),
        redirect: "follow",
      });
      const buf = new Uint8Array(await res.arrayBuffer());
      if (buf.length > this.httpMax) throw new Error(`response body is larger than ${this.httpMax} bytes`);
      const headers: Record<string, string> = {};
      res.headers.forEach((v, k) => (headers[k] = v));
      return { status: res.status, headers, body: buf };
    } catch (err) {
      const e = err as Error & { cause?: Error };
      const why = e.name === "TimeoutError" ? `timed out after ${timeoutMs} ms` : `${e.message}${e.cause ? ` (${e.cause.message})` : ""}`;
      throw fail("http", `${method.toUpperCase()} ${u.href} failed: ${why}`);
    }
  }
}
