/**
 * Artifact fetching: `nats://BUCKET/KEY` (JetStream object store), `file:///path` and `http(s)://`.
 * Every artifact is checked against the request's sha256 and cached on disk by its hash. A cache file is only ever
 * written whole (a temporary file in the same directory, synced, then renamed over the old one), readable by the
 * node's user alone (0600; 0700 when it is executed in place, i.e. a native workload without the sandbox), and a file
 * whose hash is wrong is replaced with verified bytes before anything uses it.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
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

/** What the store needs from its node. */
export interface ArtifactStoreOptions {
  /** The node's connection inside a namespace: `nats://` artifacts are read from the deploying namespace's own bucket. */
  connect(ns: string): Promise<NatsConnection>;
  /** Where the cache lives (one folder per namespace). */
  cacheDir: string;
  maxBytes: number;
  /** Directories `file://` artifacts may come from; none means `file://` is refused. */
  allowFileDirs: readonly string[];
  fetchTimeoutMs?: number;
}

/** Fetches and verifies artifacts, keeping a content-addressed cache per namespace. */
export class ArtifactStore {
  private readonly maxBytes: number;
  private readonly fetchTimeoutMs: number;

  constructor(private readonly o: ArtifactStoreOptions) {
    this.maxBytes = o.maxBytes;
    this.fetchTimeoutMs = o.fetchTimeoutMs ?? 30_000;
    mkdirSync(o.cacheDir, { recursive: true, mode: 0o700 });
    chmodSync(o.cacheDir, 0o700);
  }

  /** Fetches `location` for namespace `ns`, refusing it when it is too large or its sha256 differs from `expected`. */
  async fetch(ns: string, location: string, expected?: string, opts: FetchOptions = {}): Promise<Artifact> {
    const executable = opts.executable ?? false;
    const dir = join(this.o.cacheDir, ns);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (expected !== undefined) {
      const cached = this.fromCache(dir, expected, executable);
      if (cached) return cached;
    }
    const bytes = await this.download(ns, location);
    if (bytes.length > this.maxBytes) {
      throw new NexError("NEX_E_ARTIFACT_TOO_LARGE", `artifact is ${bytes.length} bytes; this node allows ${this.maxBytes}`);
    }
    const sha256 = sha256Hex(bytes);
    if (expected !== undefined && sha256 !== expected) {
      throw new NexError("NEX_E_HASH_MISMATCH", `artifact at ${location} has sha256 ${sha256}, but the request says ${expected}`);
    }
    this.store(dir, sha256, bytes, executable);
    return this.artifact(dir, sha256, bytes, executable);
  }

  private artifact(dir: string, sha256: string, bytes: Uint8Array, executable: boolean): Artifact {
    const path = join(dir, sha256);
    return { bytes, sha256, path, checkedPath: () => this.store(dir, sha256, bytes, executable) };
  }

  /** The cached artifact, or undefined when there is none or its file is damaged (it is then refetched, never used). */
  private fromCache(dir: string, sha256: string, executable: boolean): Artifact | undefined {
    const path = join(dir, sha256);
    if (!existsSync(path)) return undefined;
    const bytes = new Uint8Array(readFileSync(path));
    if (sha256Hex(bytes) !== sha256) return undefined;
    this.ensureMode(path, executable);
    return this.artifact(dir, sha256, bytes, executable);
  }

  /** Makes the cache file hold exactly `bytes` (verified by the caller), with the right mode; returns its path. */
  private store(dir: string, sha256: string, bytes: Uint8Array, executable: boolean): string {
    const path = join(dir, sha256);
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

  private async download(ns: string, location: string): Promise<Uint8Array> {
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      throw new NexError("NEX_E_BAD_LOCATION", `"${location}" is not a URL`);
    }
    switch (url.protocol) {
      case "nats:":
        return this.fromObjectStore(ns, url);
      case "file:":
        return this.fromFile(url);
      case "http:":
      case "https:":
        return this.fromHttp(url);
      default:
        throw new NexError("NEX_E_BAD_LOCATION", `unsupported artifact scheme "${url.protocol}"`);
    }
  }

  private async fromObjectStore(ns: string, url: URL): Promise<Uint8Array> {
    const bucket = url.hostname;
    let key: string;
    try {
      key = decodeURIComponent(url.pathname.replace(/^\//, ""));
    } catch {
      throw new NexError("NEX_E_BAD_LOCATION", `the object name in ${url.href.slice(0, 200)} is not valid percent-encoding`);
    }
    try {
      const os = await new Objm(await this.o.connect(ns)).open(bucket);
      const data = await os.getBlob(key);
      if (data === null) throw new NexError("NEX_E_ARTIFACT_FETCH", `no object "${key}" in bucket "${bucket}"`);
      return data;
    } catch (err) {
      if (err instanceof NexError) throw err;
      throw new NexError("NEX_E_ARTIFACT_FETCH", `cannot read nats://${bucket}/${key}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * A `file://` artifact: only under a directory the node allows (after resolving symlinks), and read with no more
   * privilege than an unprivileged user has (a root node reads through `setpriv` as nobody).
   */
  private fromFile(url: URL): Uint8Array {
    let asked: string;
    try {
      asked = fileURLToPath(url);
    } catch (err) {
      // A host, or an encoded "/" in the path: no file of this host has that name.
      throw new NexError("NEX_E_BAD_LOCATION", `${url.href} names no local file: ${(err as Error).message}`);
    }
    let path: string;
    try {
      path = realpathSync(asked);
    } catch {
      throw new NexError("NEX_E_ARTIFACT_FETCH", `cannot read ${asked}: no such file`);
    }
    const allowed = this.o.allowFileDirs.some((d) => path === d || path.startsWith(d.endsWith(sep) ? d : d + sep));
    if (!allowed) {
      throw new NexError("NEX_E_FORBIDDEN", `file:// artifacts are only read from directories this node allows, and ${asked} is not in one`, {
        hint: this.o.allowFileDirs.length ? `Allowed: ${this.o.allowFileDirs.join(", ")}.` : "Start the node with --allow-file-dir DIR, or upload the artifact (nex devrun) and deploy it from nats://.",
      });
    }
    const st = statSync(path);
    if (!st.isFile()) throw new NexError("NEX_E_ARTIFACT_FETCH", `cannot read ${asked}: not a regular file`);
    if (st.size > this.maxBytes) throw new NexError("NEX_E_ARTIFACT_TOO_LARGE", `artifact is ${st.size} bytes; this node allows ${this.maxBytes}`);
    return readUnprivileged(path, this.maxBytes, asked);
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

/** Reads a file as an unprivileged user would: a root node drops to nobody for the read, so root-only files stay unreadable. */
function readUnprivileged(path: string, maxBytes: number, asked: string): Uint8Array {
  try {
    if (process.getuid?.() !== 0) return new Uint8Array(readFileSync(path));
    const out = execFileSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", "cat", "--", path], {
      maxBuffer: maxBytes + 1,
      stdio: ["ignore", "pipe", "ignore"],
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    });
    return new Uint8Array(out);
  } catch {
    // Never the content, never more than the path the deploy named.
    throw new NexError("NEX_E_ARTIFACT_FETCH", `cannot read ${asked}: permission denied or unreadable`);
  }
}

/** Resolves the directories `file://` artifacts may come from (symlinks followed; missing ones dropped). */
export function resolveFileDirs(dirs: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of dirs) {
    try {
      out.push(realpathSync(resolve(d)));
    } catch {
      // a directory that does not exist allows nothing
    }
  }
  return out;
}

/** Hex sha256 of some bytes. */
function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
