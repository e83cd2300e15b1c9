/**
 * Artifact fetching: `nats://BUCKET/KEY` (JetStream object store), `file:///path` and `http(s)://`.
 * Every artifact is checked against the request's sha256 and cached on disk by its hash.
 */
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join, resolve, sep } from "node:path";
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
  private readonly cacheDir: string;
  private readonly maxBytes: number;
  private readonly fetchTimeoutMs: number;

  constructor(private readonly o: ArtifactStoreOptions) {
    this.cacheDir = o.cacheDir;
    this.maxBytes = o.maxBytes;
    this.fetchTimeoutMs = o.fetchTimeoutMs ?? 30_000;
    mkdirSync(this.cacheDir, { recursive: true, mode: 0o700 });
  }

  /** Fetches `location` for namespace `ns`, refusing it when it is too large or its sha256 differs from `expected`. */
  async fetch(ns: string, location: string, expected?: string): Promise<Artifact> {
    const dir = join(this.cacheDir, ns);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (expected !== undefined) {
      const cached = this.fromCache(dir, expected);
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
    return { bytes, sha256, path: this.store(dir, sha256, bytes) };
  }

  private fromCache(dir: string, sha256: string): Artifact | undefined {
    const path = join(dir, sha256);
    if (!existsSync(path)) return undefined;
    const bytes = new Uint8Array(readFileSync(path));
    // A damaged cache entry is refetched, never trusted.
    return sha256Hex(bytes) === sha256 ? { bytes, sha256, path } : undefined;
  }

  private store(dir: string, sha256: string, bytes: Uint8Array): string {
    const path = join(dir, sha256);
    if (!existsSync(path)) {
      const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
      writeFileSync(tmp, bytes, { mode: 0o755 });
      renameSync(tmp, path);
    }
    return path;
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
    const key = decodeURIComponent(url.pathname.replace(/^\//, ""));
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
    const asked = fileURLToPath(url);
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
