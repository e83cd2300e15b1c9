/** Node options in two stages: what a user may give (all optional), and the resolved form the node runs with. */
import { execFileSync } from "node:child_process";
import { availableParallelism, homedir, hostname } from "node:os";
import { join } from "node:path";
import { DEPLOY_DEFAULTS, NexError, WORKLOAD_TYPE_NAMES, type WorkloadMaximums, type WorkloadType } from "../contract/index.js";
import { parseAllowEntry } from "../hostservices/egress.js";
import type { RuntimeTunables } from "../runtimes/runtime.js";
import { resolveFileDirs } from "./artifacts.js";
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
  /** How long this node's instances are kept for it after a clean stop; default 30 s. */
  restartGraceMs?: number;
  reconcileIntervalMs?: number;
  drainTimeoutMs?: number;
  maxWorkloads?: number;
  maxArtifactMiB?: number;
  /** The largest memory limit one workload may ask for. */
  maxMemoryMiB?: number;
  /** The longest per-invocation timeout a function may ask for. */
  maxTimeoutMs?: number;
  /** The most processes one native workload may ask for. */
  maxProcesses?: number;
  /** The most CPUs one native workload may ask for (a fraction such as 0.5 is allowed). */
  maxCpus?: number;
  /** Create missing buckets when a function first uses them; default true. */
  autoCreateBuckets?: boolean;
  /**
   * Destinations functions may reach over HTTP although the egress policy refuses them (loopback, private,
   * link-local, …): host names, IP addresses (either optionally with `:port`) and CIDRs. Default none.
   */
  allowEgress?: string[];
  /** Start the default namespace's JS runner at boot so the first deploy is fast; default true. */
  warmRunners?: boolean;
  /**
   * How long a JS function may go without an invocation before its isolate is freed (it stays deployed and
   * subscribed; the next message rebuilds it); default 5 minutes, 0: never.
   */
  idleEvictMs?: number;
  /** Override any of the tunables in NODE_DEFAULTS. */
  tunables?: Partial<RuntimeTunables & { missedBeats: number }>;
  /** Run on a NATS server without authentication (every client could then run code as the node's user). */
  insecure?: boolean;
  /** A nex home made by `nex up` (`~/.nex`): the node finds the namespaces' signing keys in it. */
  authHome?: string;
  /** `--namespace-key NAME=FILE`: a namespace's account signing key, for deployments made with nsc. */
  namespaceKeys?: Record<string, string>;
  /** Directories `file://` artifacts may be read from; none by default. */
  allowFileDirs?: string[];
  /** The user native workloads run as: a name or uid; default the node's own user, or nobody when the node is root. */
  workloadUser?: string;
  /** Size of each namespace's log and event history, in MiB. */
  feedMiB?: number;
  /** The most unprocessed messages one durable function's trigger stream keeps, in MiB. */
  triggerStreamMiB?: number;
  /** The most dead letters a namespace keeps, in MiB. */
  dlqMiB?: number;
  /** Serve Prometheus metrics at `/metrics` on this port (0: any free port); off by default. */
  metricsPort?: number;
  /** The address the metrics endpoint binds to; default 127.0.0.1. */
  metricsHost?: string;
  /** Export invocation traces over OTLP/HTTP to this URL (`/v1/traces` is added to a bare host); off by default. */
  otlpEndpoint?: string;
  /** Runner processes per namespace and function engine (1 to 16); every function is loaded into each. Default 1. */
  runnersPerNamespace?: number;
}

/**
 * Defaults for every optional setting, and the node's tunables, in one place (docs/design.md lists them).
 * A tunable is resolved here once and handed to whatever needs it (runtimes, runners, failover).
 */
export const NODE_DEFAULTS = {
  heartbeatIntervalMs: 5_000,
  maxWorkloads: 10_000,
  /** How long a cleanly stopped node's instances are kept for its restart before they are placed elsewhere. */
  restartGraceMs: 30_000,
  /** How often the reconciler compares desired with actual state even when nothing changed. */
  reconcileIntervalMs: 1_000,
  /** How long a draining (lame duck) node waits for its workloads to be placed elsewhere before it stops anyway. */
  drainTimeoutMs: 30_000,
  maxArtifactMiB: 128,
  /** The largest memory limit one workload may ask for (4 GiB). */
  maxMemoryMiB: 4_096,
  /** The longest per-invocation timeout a function may ask for (5 minutes). */
  maxTimeoutMs: 300_000,
  /** The most processes one native workload may ask for. */
  maxProcesses: 1_024,
  /** The most CPUs one native workload may ask for: all of the host's. */
  maxCpus: availableParallelism(),
  autoCreateBuckets: true,
  warmRunners: true,
  types: [...WORKLOAD_TYPE_NAMES] as WorkloadType[],
  /** Heartbeats a node may miss before others judge it lost. */
  missedBeats: 3,
  /** How long one deploy into a runner may take (plus the function's own timeout, for its top-level code). */
  deployTimeoutMs: 60_000,
  /** Most invocations of one function waiting at once; more are refused with NEX_E_LIMIT. */
  maxInFlight: 1_000,
  /** Most invocations the v8 engine sends into an isolate in one batch. */
  batchSize: 128,
  /** Most `function_failed` events one function emits per second; the rest are counted, not sent. */
  failureEventsPerSecond: 10,
  /** V8 heap of a runner process itself (isolates and modules have their own limits). */
  runnerHeapMiB: 256,
  /** How often the node asks each runner whether it still answers. */
  runnerPingMs: 2_000,
  /** How long a runner may stay silent (frozen, stopped) before it is killed and respawned with its functions. */
  runnerUnresponsiveMs: 10_000,
  /** Runner processes per namespace and engine; each holds every function of the namespace, queue groups split the load. */
  runnersPerNamespace: 1,
  /** The most runner processes per namespace and engine. */
  maxRunnersPerNamespace: 16,
  /** Log and event history kept per namespace. */
  feedMiB: 64,
  /** Unprocessed messages one durable function keeps; beyond it, new messages are refused. */
  triggerStreamMiB: 256,
  /** Dead letters kept per namespace (for 14 days); beyond it, new dead letters stay in their trigger stream. */
  dlqMiB: 64,
  /** Where the metrics endpoint listens when a port is given: loopback, as metrics name every workload. */
  metricsHost: "127.0.0.1",
  /** Log lines one invocation of a function may write; the rest are dropped, and one notice line counts them. */
  logLinesPerInvocation: 1_000,
  /** Log bytes one function may write per second (1 MiB); the rest are dropped and counted the same way. */
  logBytesPerSecond: 1_048_576,
  /** Longest log line (16 KiB); a longer one is cut and ends with a marker. */
  logLineBytes: 16_384,
  /** A JS function idle this long (5 minutes) gives up its isolate until its next invocation; 0: never. */
  idleEvictMs: 300_000,
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
  restartGraceMs: number;
  reconcileIntervalMs: number;
  drainTimeoutMs: number;
  maxWorkloads: number;
  maxArtifactBytes: number;
  /** What one workload may ask for at most. */
  maximums: WorkloadMaximums;
  autoCreateBuckets: boolean;
  /** Normalized allow-list entries of the egress policy. */
  allowEgress: string[];
  warmRunners: boolean;
  missedBeats: number;
  tunables: RuntimeTunables;
  insecure: boolean;
  authHome: string | undefined;
  namespaceKeys: Record<string, string>;
  allowFileDirs: string[];
  workloadUser: { uid: number; gid: number } | undefined;
  feedBytes: number;
  triggerStreamBytes: number;
  dlqBytes: number;
  /** Where `/metrics` is served; undefined: not at all. */
  metrics: { host: string; port: number } | undefined;
  /** The OTLP/HTTP traces URL runners export to; undefined: no tracing. */
  otlpEndpoint: string | undefined;
}

/** True when bubblewrap is on PATH. */
function bubblewrapAvailable(): boolean {
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

/** The uid/gid native workloads run as: the named user, or nobody when the node is root, or the node's own user. */
export function resolveWorkloadUser(user: string | undefined): { uid: number; gid: number } | undefined {
  const root = process.getuid?.() === 0;
  if (user === undefined) return root ? { uid: 65534, gid: 65534 } : undefined;
  const id = (flag: string): number => {
    try {
      return Number(execFileSync("id", [flag, user], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    } catch {
      throw new NexError("NEX_E_INVALID_FIELD", `workload-user: no user ${JSON.stringify(user)} on this host`);
    }
  };
  const uid = id("-u");
  if (uid === process.getuid?.()) return undefined;
  if (!root) throw new NexError("NEX_E_INVALID_FIELD", "workload-user: only a node running as root can run workloads as another user");
  return { uid, gid: id("-g") };
}

/** A positive integer option, or NEX_E_INVALID_FIELD naming it. */
export function positiveInt(v: number | undefined, name: string, dflt: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min) throw new NexError("NEX_E_INVALID_FIELD", `${name}: must be an integer of at least ${min}, not ${String(v)}`);
  if (v > max) throw new NexError("NEX_E_INVALID_FIELD", `${name}: must be an integer from ${min} to ${max}, not ${String(v)}`);
  return v;
}

/** A positive number option (fractions allowed), or NEX_E_INVALID_FIELD naming it. */
export function positiveNumber(v: number | undefined, name: string, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min) throw new NexError("NEX_E_INVALID_FIELD", `${name}: must be a number of at least ${min}, not ${String(v)}`);
  return v;
}

/** The node's maximums for one workload; none may be below the smallest value a deploy can ask for. */
function resolveMaximums(o: NodeOptions): WorkloadMaximums {
  return {
    memoryLimitMiB: positiveInt(o.maxMemoryMiB, "max-memory-mib", NODE_DEFAULTS.maxMemoryMiB, DEPLOY_DEFAULTS.minMemoryLimitMiB),
    timeoutMs: positiveInt(o.maxTimeoutMs, "max-timeout-ms", NODE_DEFAULTS.maxTimeoutMs),
    maxProcesses: positiveInt(o.maxProcesses, "max-processes", NODE_DEFAULTS.maxProcesses),
    cpus: positiveNumber(o.maxCpus, "max-cpus", NODE_DEFAULTS.maxCpus, DEPLOY_DEFAULTS.minCpus),
  };
}

/** Checks the egress allow list; a bad entry is NEX_E_INVALID_FIELD naming it. */
function resolveAllowEgress(list: string[] | undefined): string[] {
  return (list ?? []).map((raw) => {
    try {
      parseAllowEntry(raw);
    } catch (err) {
      throw new NexError("NEX_E_INVALID_FIELD", `allow-egress: ${(err as Error).message}; use a host name, an IP address (either with an optional :port) or a CIDR`);
    }
    return raw.trim().toLowerCase();
  });
}

/** The metrics address, or undefined when no port is given. */
function resolveMetrics(port: number | undefined, host: string | undefined): { host: string; port: number } | undefined {
  if (port === undefined) {
    if (host !== undefined) throw new NexError("NEX_E_INVALID_FIELD", "metrics-host: needs --metrics-port as well");
    return undefined;
  }
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new NexError("NEX_E_INVALID_FIELD", `metrics-port: must be a port number from 0 to 65535, not ${String(port)}`);
  const h = (host ?? NODE_DEFAULTS.metricsHost).trim();
  if (!/^[A-Za-z0-9.:-]+$/.test(h)) throw new NexError("NEX_E_INVALID_FIELD", `metrics-host: ${JSON.stringify(host)} is not a host name or IP address`);
  return { host: h, port };
}

/** The traces URL: an http(s) URL; a bare host (no path) gets the OTLP path `/v1/traces`. */
export function resolveOtlpEndpoint(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new NexError("NEX_E_INVALID_FIELD", `otlp-endpoint: ${JSON.stringify(url)} is not a URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new NexError("NEX_E_INVALID_FIELD", "otlp-endpoint: must be an http:// or https:// URL (OTLP over HTTP)");
  if (u.pathname === "/" || u.pathname === "") u.pathname = "/v1/traces";
  return u.href;
}

/** Compiles user options into the resolved form; a bad value throws NEX_E_INVALID_FIELD naming the option. */
export function resolveNodeOptions(o: NodeOptions): ResolvedNodeOptions {
  const t = o.tunables ?? {};
  for (const type of o.types ?? []) {
    if (!WORKLOAD_TYPE_NAMES.includes(type)) throw new NexError("NEX_E_UNKNOWN_TYPE", `types: unknown workload type ${JSON.stringify(type)}`);
  }
  return {
    connection: o.connection,
    name: o.name ?? hostname(),
    seedFile: o.seedFile,
    tags: o.tags ?? {},
    namespaces: o.namespaces && o.namespaces.length > 0 ? o.namespaces : "*",
    dataDir: o.dataDir ?? defaultDataDir(),
    sandbox: o.sandbox ?? bubblewrapAvailable(),
    types: o.types ?? [...NODE_DEFAULTS.types],
    heartbeatIntervalMs: positiveInt(o.heartbeatIntervalMs, "heartbeat", NODE_DEFAULTS.heartbeatIntervalMs, 100),
    restartGraceMs: positiveInt(o.restartGraceMs, "restart-grace", NODE_DEFAULTS.restartGraceMs, 0),
    reconcileIntervalMs: positiveInt(o.reconcileIntervalMs, "reconcileIntervalMs", NODE_DEFAULTS.reconcileIntervalMs, 50),
    drainTimeoutMs: positiveInt(o.drainTimeoutMs, "drainTimeoutMs", NODE_DEFAULTS.drainTimeoutMs, 0),
    maxWorkloads: positiveInt(o.maxWorkloads, "max-workloads", NODE_DEFAULTS.maxWorkloads),
    maxArtifactBytes: positiveInt(o.maxArtifactMiB, "max-artifact-mib", NODE_DEFAULTS.maxArtifactMiB) * 1024 * 1024,
    maximums: resolveMaximums(o),
    autoCreateBuckets: o.autoCreateBuckets ?? NODE_DEFAULTS.autoCreateBuckets,
    allowEgress: resolveAllowEgress(o.allowEgress),
    warmRunners: o.warmRunners ?? NODE_DEFAULTS.warmRunners,
    missedBeats: positiveInt(t.missedBeats, "missedBeats", NODE_DEFAULTS.missedBeats),
    tunables: {
      deployTimeoutMs: positiveInt(t.deployTimeoutMs, "deployTimeoutMs", NODE_DEFAULTS.deployTimeoutMs),
      maxInFlight: positiveInt(t.maxInFlight, "maxInFlight", NODE_DEFAULTS.maxInFlight),
      batchSize: positiveInt(t.batchSize, "batchSize", NODE_DEFAULTS.batchSize),
      failureEventsPerSecond: positiveInt(t.failureEventsPerSecond, "failureEventsPerSecond", NODE_DEFAULTS.failureEventsPerSecond, 0),
      runnerHeapMiB: positiveInt(t.runnerHeapMiB, "runnerHeapMiB", NODE_DEFAULTS.runnerHeapMiB, 32),
      runnerPingMs: positiveInt(t.runnerPingMs, "runnerPingMs", NODE_DEFAULTS.runnerPingMs, 10),
      runnerUnresponsiveMs: positiveInt(t.runnerUnresponsiveMs, "runnerUnresponsiveMs", NODE_DEFAULTS.runnerUnresponsiveMs, 100),
      logLinesPerInvocation: positiveInt(t.logLinesPerInvocation, "logLinesPerInvocation", NODE_DEFAULTS.logLinesPerInvocation),
      logBytesPerSecond: positiveInt(t.logBytesPerSecond, "logBytesPerSecond", NODE_DEFAULTS.logBytesPerSecond, 1_024),
      logLineBytes: positiveInt(t.logLineBytes, "logLineBytes", NODE_DEFAULTS.logLineBytes, 256),
      runnersPerNamespace: positiveInt(
        o.runnersPerNamespace ?? t.runnersPerNamespace,
        "runners",
        NODE_DEFAULTS.runnersPerNamespace,
        1,
        NODE_DEFAULTS.maxRunnersPerNamespace,
      ),
      idleEvictMs: positiveInt(o.idleEvictMs ?? t.idleEvictMs, "evict-idle", NODE_DEFAULTS.idleEvictMs, 0),
    },
    insecure: o.insecure ?? false,
    authHome: o.authHome,
    namespaceKeys: o.namespaceKeys ?? {},
    allowFileDirs: resolveFileDirs(o.allowFileDirs ?? []),
    workloadUser: resolveWorkloadUser(o.workloadUser),
    feedBytes: positiveInt(o.feedMiB, "feed-mib", NODE_DEFAULTS.feedMiB) * 1024 * 1024,
    triggerStreamBytes: positiveInt(o.triggerStreamMiB, "trigger-stream-mib", NODE_DEFAULTS.triggerStreamMiB) * 1024 * 1024,
    dlqBytes: positiveInt(o.dlqMiB, "dlq-mib", NODE_DEFAULTS.dlqMiB) * 1024 * 1024,
    metrics: resolveMetrics(o.metricsPort, o.metricsHost),
    otlpEndpoint: resolveOtlpEndpoint(o.otlpEndpoint),
  };
}
