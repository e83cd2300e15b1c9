/**
 * Artifact fetching: `nats://BUCKET/KEY` (JetStream object store), `file:///path` and `http(s)://`.
 * Every artifact is checked against the request's sha256 and cached on disk by its hash.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/nats-core";
import { Objm } from "@nats-io/obj";
import { NexError } from "../contract/index.js";

/** A fetched, verified artifact. */
export interface Artifact {
  readonly bytes: Uint8Array;
  readonly sha256: string;
  /** Where the verified bytes live on disk (content-addressed). */
  readonly path: string;
}

/** Fetches and verifies artifacts, keeping a content-addressed cache. */
export class ArtifactStore {
  constructor(
    private readonly nc: NatsConnection,
    private readonly cacheDir: string,
    private readonly maxBytes: number,
    private readonly fetchTimeoutMs = 30_000,
  ) {
    mkdirSync(cacheDir, { recursive: true });
  }

  /** Fetches `location`, refusing it when it is too large or its sha256 differs from `expected`. */
  async fetch(location: string, expected?: string): Promise<Artifact> {
    if (expected !== undefined) {
      const cached = this.fromCache(expected);
      if (cached) return cached;
    }
    const bytes = await this.download(location);
    if (bytes.length > this.maxBytes) {
      throw new NexError("NEX_E_ARTIFACT_TOO_LARGE", `artifact is ${bytes.length} bytes; this node allows ${this.maxBytes}`);
    }
    const sha256 = sha256Hex(bytes);
    if (expected !== undefined && sha256 !== expected) {
      throw new NexError("NEX_E_HASH_MISMATCH", `artifact at ${location} has sha256 ${sha256}, but the request says ${expected}`);
    }
    return { bytes, sha256, path: this.store(sha256, bytes) };
  }

  private fromCache(sha256: string): Artifact | undefined {
    const path = join(this.cacheDir, sha256);
    if (!existsSync(path)) return undefined;
    const bytes = new Uint8Array(readFileSync(path));
    // A damaged cache entry is refetched, never trusted.
    return sha256Hex(bytes) === sha256 ? { bytes, sha256, path } : undefined;
  }

  private store(sha256: string, bytes: Uint8Array): string {
    const path = join(this.cacheDir, sha256);
    if (!existsSync(path)) {
      const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
      writeFileSync(tmp, bytes, { mode: 0o755 });
      renameSync(tmp, path);
    }
    return path;
  }

  private async download(location: string): Promise<Uint8Array> {
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      throw new NexError("NEX_E_BAD_LOCATION", `"${location}" is not a URL`);
    }
    switch (url.protocol) {
      case "nats:":
        return this.fromObjectStore(url);
      case "file:":
        return this.fromFile(url);
      case "http:":
      case "https:":
        return this.fromHttp(url);
      default:
        throw new NexError("NEX_E_BAD_LOCATION", `unsupported artifact scheme "${url.protocol}"`);
    }
  }

  private async fromObjectStore(url: URL): Promise<Uint8Array> {
    const bucket = url.hostname;
    const key = decodeURIComponent(url.pathname.replace(/^\//, ""));
    try {
      const os = await new Objm(this.nc).open(bucket);
      const data = await os.getBlob(key);
      if (data === null) throw new NexError("NEX_E_ARTIFACT_FETCH", `no object "${key}" in bucket "${bucket}"`);
      return data;
    } catch (err) {
      if (err instanceof NexError) throw err;
      throw new NexError("NEX_E_ARTIFACT_FETCH", `cannot read nats://${bucket}/${key}: ${(err as Error).message}`, { cause: err });
    }
  }

  private fromFile(url: URL): Uint8Array {
    const path = fileURLToPath(url);
    try {
      const st = statSync(path);
      if (!st.isFile()) throw new Error("not a regular file");
      if (st.size > this.maxBytes) {
        throw new NexError("NEX_E_ARTIFACT_TOO_LARGE", `artifact is ${st.size} bytes; this node allows ${this.maxBytes}`);
      }
      return new Uint8Array(readFileSync(path));
    } catch (err) {
      if (err instanceof NexError) throw err;
      throw new NexError("NEX_E_ARTIFACT_FETCH", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  private async fromHttp(url: URL): Promise<Uint8Array> {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.fetchTimeoutMs), redirect: "follow" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const len = Number(res.headers.get("content-length") ?? "0");
      if (len > this.maxBytes) {
        throw new NexError("NEX_E_ARTIFACT_TOO_LARGE", `artifact is ${len} bytes; this node allows ${this.maxBytes}`);
      }
      return new Uint8Array(await res.arrayBuffer());
    } catch (err) {
      if (err instanceof NexError) throw err;
      throw new NexError("NEX_E_ARTIFACT_FETCH", `cannot fetch ${url.href}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** Hex sha256 of some bytes. */
function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
