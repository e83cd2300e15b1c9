/** Node options in two stages: what a user may give (all optional), and the resolved form the node runs with. */
import { execFileSync } from "node:child_process";
import { homedir, hostname } from "node:os";
import { join } from "node:path";
import type { WorkloadType } from "../contract/index.js";
import type { ConnectionConfig } from "../nats/connect.js";

/** What a user may set. Every field has a documented default in NODE_DEFAULTS or below. */
export interface NodeOptions {
  connection: ConnectionConfig;
  /** Friendly name; default the host name. */
  name?: string;
  /** File holding the node's nkey seed; created when missing. Without it the node gets a fresh identity. */
  seedFile?: string;
  /** User tags for placement. */
  tags?: Record<string, string>;
  /** Namespaces this node serves; default all. */
  namespaces?: string[];
  /** Where the node keeps its artifact cache and scratch space; default `~/.nex`. */
  dataDir?: string;
  /** Sandbox native services with bubblewrap; default: on when `bwrap` is installed. */
  sandbox?: boolean;
  /** Workload types this node runs; default all. */
  types?: WorkloadType[];
  heartbeatIntervalMs?: number;
  maxWorkloads?: number;
  maxArtifactMiB?: number;
  /** Create missing buckets when a function first uses them; default true. */
  autoCreateBuckets?: boolean;
  /** Start the default namespace's JS runner at boot so the first deploy is fast; default true. */
  warmRunners?: boolean;
}

/** Defaults for every optional setting. */
export const NODE_DEFAULTS = {
  heartbeatIntervalMs: 10_000,
  maxWorkloads: 10_000,
  maxArtifactMiB: 128,
  autoCreateBuckets: true,
  warmRunners: true,
  types: ["v8", "wasm", "native"] as WorkloadType[],
} as const;

/** Fully resolved node settings, units in the names. */
export interface ResolvedNodeOptions {
  connection: ConnectionConfig;
  name: string;
  seedFile: string | undefined;
  tags: Record<string, string>;
  namespaces: string[] | "*";
  dataDir: string;
  sandbox: boolean;
  types: WorkloadType[];
  heartbeatIntervalMs: number;
  maxWorkloads: number;
  maxArtifactBytes: number;
  autoCreateBuckets: boolean;
  warmRunners: boolean;
}

/** True when bubblewrap is on PATH. */
export function bubblewrapAvailable(): boolean {
  try {
    execFileSync("bwrap", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The default data directory. */
export function defaultDataDir(): string {
  return process.env["NEX_HOME"] ?? join(homedir(), ".nex");
}

/** Compiles user options into the resolved form. */
export function resolveNodeOptions(o: NodeOptions): ResolvedNodeOptions {
  return {
    connection: o.connection,
    name: o.name ?? hostname(),
    seedFile: o.seedFile,
    tags: o.tags ?? {},
    namespaces: o.namespaces && o.namespaces.length > 0 ? o.namespaces : "*",
    dataDir: o.dataDir ?? defaultDataDir(),
    sandbox: o.sandbox ?? bubblewrapAvailable(),
    types: o.types ?? [...NODE_DEFAULTS.types],
    heartbeatIntervalMs: o.heartbeatIntervalMs ?? NODE_DEFAULTS.heartbeatIntervalMs,
    maxWorkloads: o.maxWorkloads ?? NODE_DEFAULTS.maxWorkloads,
    maxArtifactBytes: (o.maxArtifactMiB ?? NODE_DEFAULTS.maxArtifactMiB) * 1024 * 1024,
    autoCreateBuckets: o.autoCreateBuckets ?? NODE_DEFAULTS.autoCreateBuckets,
    warmRunners: o.warmRunners ?? NODE_DEFAULTS.warmRunners,
  };
}
