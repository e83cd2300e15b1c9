/**
 * Artifact fetching: `nats://BUCKET/KEY` (JetStream object store), `file:///path` and `http(s)://`.
 * Every artifact is checked against the request's sha256 and cached on disk by its hash. A cache file is only ever
 * written whole (a temporary file in the same directory, synced, then renamed over the old one), readable by the
 * node's user alone (0600; 0700 when it is executed in place, i.e. a native workload without the sandbox), and a file
 * whose hash is wrong is replaced with verified bytes before anything uses it.
 */
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
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
  /** `path`, after checking the file still holds these bytes (it is rewritten from them when it does not). */
  checkedPath(): string;
}

/** How an artifact will be used. */
export interface FetchOptions {
  /** The node executes the cache file itself (a native workload without the sandbox): mode 0700 instead of 0600. */
  executable?: boolean;
}

const FILE_MODE = 0o600;
const EXEC_MODE = 0o700;

/** Fetches and verifies artifacts, keeping a content-addressed cache. */
export class ArtifactStore {
  constructor(
    private readonly nc: NatsConnection,
    private readonly cacheDir: string,
    private readonly maxBytes: number,
    private readonly fetchTimeoutMs = 30_000,
  ) {
    mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    chmodSync(cacheDir, 0o700);
  }

  /** Fetches `location`, refusing it when it is too large or its sha256 differs from `expected`. */
  async fetch(location: string, expected?: string, opts: FetchOptions = {}): Promise<Artifact> {
    const executable = opts.executable ?? false;
    if (expected !== undefined) {
      const cached = this.fromCache(expected, executable);
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
    this.store(sha256, bytes, executable);
    return this.artifact(sha256, bytes, executable);
  }

  private artifact(sha256: string, bytes: Uint8Array, executable: boolean): Artifact {
    const path = join(this.cacheDir, sha256);
    return { bytes, sha256, path, checkedPath: () => this.store(sha256, bytes, executable) };
  }

  /** The cached artifact, or undefined when there is none or its file is damaged (it is then refetched, never used). */
  private fromCache(sha256: string, executable: boolean): Artifact | undefined {
    const path = join(this.cacheDir, sha256);
    if (!existsSync(path)) return undefined;
    const bytes = new Uint8Array(readFileSync(path));
    if (sha256Hex(bytes) !== sha256) return undefined;
    this.ensureMode(path, executable);
    return this.artifact(sha256, bytes, executable);
  }

  /** Makes the cache file hold exactly `bytes` (verified by the caller), with the right mode; returns its path. */
  private store(sha256: string, bytes: Uint8Array, executable: boolean): string {
    const path = join(this.cacheDir, sha256);
    if (existsSync(path) && sha256Hex(readFileSync(path)) === sha256) {
      this.ensureMode(path, executable);
      return path;
    }
    writeAtomically(path, bytes, executable ? EXEC_MODE : FILE_MODE);
    return path;
  }

  /** Only the node's user may read a cache file; the owner's execute bit stays once a native workload needed it. */
  private ensureMode(path: string, executable: boolean): void {
    const current = statSync(path).mode & 0o777;
    const wanted = executable || (current & 0o100) !== 0 ? EXEC_MODE : FILE_MODE;
    if (current !== wanted) chmodSync(path, wanted);
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

/** Writes `bytes` to `path` whole: a temporary file in the same directory, synced, renamed over `path`, and the directory synced. */
function writeAtomically(path: string, bytes: Uint8Array, mode: number): void {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  const fd = openSync(tmp, "wx", mode);
  try {
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    // The umask may have taken bits off the requested mode.
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
  const dir = openSync(dirname(path), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** Hex sha256 of some bytes. */
function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
