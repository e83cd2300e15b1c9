/**
 * The one seam between the node and the things that run workloads. Each workload type implements `Runtime`
 * in its own folder; `registry.ts` is the one place that picks an implementation.
 */
import type { ErrorRecord, EventData, EventType, InvocationRecord, WorkloadSpec, WorkloadState, WorkloadType } from "../contract/index.js";
import type { ConnectionConfig } from "../nats/connect.js";

/** A verified artifact as runtimes receive it. */
export interface ArtifactRef {
  readonly bytes: Uint8Array;
  readonly sha256: string;
  /** Content-addressed file holding the bytes (native workloads execute it). */
  readonly path: string;
  /** `path`, once the file is checked to still hold `bytes` (rewritten from them if not): call it before each execution. */
  checkedPath(): string;
}

/** Live counters of one workload. */
export interface WorkloadStats {
  state: WorkloadState;
  invocations: number;
  failures: number;
  restarts: number;
  exitCode?: number | null;
  lastError?: string;
  /** Failed invocations by error code (functions). */
  failuresByCode?: Record<string, number>;
  /** Invocations running or waiting now (functions). */
  inFlight?: number;
  /** Cumulative invocation durations in the Prometheus buckets of `src/observe/durations.ts` (functions). */
  durations?: { counts: number[]; sum: number };
  /** p50 and p99 over about the last minute, in milliseconds (functions). */
  latencyMs?: { p50: number; p99: number };
  /** Memory in use, in bytes (native: the workload's cgroup, or its main process's RSS without one). */
  memoryBytes?: number;
  /** JS functions: how often the isolate was freed for being idle, and rebuilt for an invocation after that. */
  evictions?: number;
  wakes?: number;
}

/** What a workload did lately, for INSPECT. */
export interface WorkloadActivity {
  recentInvocations: InvocationRecord[];
  recentErrors: ErrorRecord[];
}

/** One process a runtime keeps for many workloads (a runner), for metrics. */
export interface ProcessStats {
  namespace: string;
  /** Which of the namespace's runners (0 to runnersPerNamespace - 1). */
  runner: number;
  pid: number;
  /** Invocations the process answered for the functions it holds now, at the last stats refresh. */
  invocations?: number;
  /** Resident memory at the last stats refresh. */
  rssBytes?: number;
}

/** Tunables the node resolves once (documented with their defaults in NODE_DEFAULTS). */
export interface RuntimeTunables {
  /** How long a deploy into a runner may take. */
  deployTimeoutMs: number;
  /** Most invocations of one function that may wait at once before new ones are refused. */
  maxInFlight: number;
  /** Most invocations the v8 engine sends into an isolate in one batch. */
  batchSize: number;
  /** Most `function_failed` events one function may emit per second. */
  failureEventsPerSecond: number;
  /** V8 heap limit of a runner process itself (its isolates have their own limits). */
  runnerHeapMiB: number;
  /** How often the node asks each runner whether it still answers. */
  runnerPingMs: number;
  /** How long a runner may stay silent before it is killed and respawned. */
  runnerUnresponsiveMs: number;
  /** Log lines one invocation of a function may write; the rest are dropped and counted. */
  logLinesPerInvocation: number;
  /** Log bytes one function may write per second; the rest are dropped and counted. */
  logBytesPerSecond: number;
  /** Longest log line, in bytes; longer lines are cut. */
  logLineBytes: number;
  /** Runner processes per namespace and function engine; every function of the namespace is loaded into each. */
  runnersPerNamespace: number;
  /** How long a JS function may go without an invocation before its isolate is freed (0: never). */
  idleEvictMs: number;
}

/**
 * How workloads reach NATS: each gets an identity of its own, minted by the node for exactly what it may do
 * (with accounts), or shares the node's connection settings (without).
 */
export interface WorkloadAccess {
  /** A namespace's runner process: its connection settings (it only publishes log lines itself). */
  runner(namespace: string): Promise<ConnectionConfig>;
  /** A function's own connection, or undefined when functions share their runner's connection (no accounts). */
  function(spec: WorkloadSpec): Promise<ConnectionConfig | undefined>;
  /** A native service: the URL it connects to, and the text of its credentials file when there is one. */
  service(spec: WorkloadSpec): Promise<{ url: string; creds?: string }>;
}

/** What a runtime needs from the node it runs in. */
export interface RuntimeHost {
  readonly nodeId: string;
  /** How runners and workloads reach NATS. */
  readonly access: WorkloadAccess;
  /** Node data directory (runtimes keep scratch space below it). */
  readonly dataDir: string;
  /** Sandbox native services (bubblewrap) or not. */
  readonly sandbox: boolean;
  /** The user native workloads run as, when it is not the node's own (a root node never runs them as root by default). */
  readonly workloadUser: { uid: number; gid: number } | undefined;
  /** Create missing KV / object store buckets on first use by a host service. */
  readonly autoCreateBuckets: boolean;
  /** Hosts and CIDRs functions may reach over HTTP although the egress policy refuses them by default. */
  readonly allowEgress: readonly string[];
  readonly tunables: RuntimeTunables;
  /** OTLP/HTTP endpoint runners export invocation traces to; undefined: no tracing (and no tracing code loaded). */
  readonly otlpEndpoint: string | undefined;
  /** Reports a lifecycle event about a workload. */
  event<T extends EventType>(ns: string, type: T, workloadId: string | undefined, data: EventData<T>): void;
  /** Publishes one log line on behalf of a workload. */
  log(spec: WorkloadSpec, stream: "stdout" | "stderr", line: string): void;
}

/** A started workload. */
/** How one scheduled run of a function ended. */
export interface TickResult {
  ok: boolean;
  code?: string;
  message?: string;
}

export interface WorkloadHandle {
  readonly id: string;
  /** Functions: runs one tick of the workload's schedule (`scheduledAt`, ISO time) and says how it ended. */
  tick?(scheduledAt: string): Promise<TickResult>;
  /** Current counters. */
  stats(): WorkloadStats;
  /** Recent invocations and failures, when the runtime keeps them. */
  activity?(): Promise<WorkloadActivity>;
  /** Stops the workload and releases everything it holds. */
  stop(): Promise<void>;
}

/** Limits a runtime can hold its workloads to on this host, beyond memory (which every runtime enforces). */
export interface LimitSupport {
  /** A CPU limit (`cpus`), which needs a cgroup cpu controller. */
  cpus: boolean;
}

/** Runs workloads of one type. */
export interface Runtime {
  readonly type: WorkloadType;
  /** Which optional limits this runtime can enforce here; a runtime without it enforces none of them. */
  limitSupport?(): LimitSupport;
  /** Starts a workload. Rejects with a NexError (e.g. NEX_E_BAD_ARTIFACT) when it cannot. */
  deploy(spec: WorkloadSpec, artifact: ArtifactRef): Promise<WorkloadHandle>;
  /** Optional warm-up for a namespace (e.g. start its runner), so the first deploy there is fast. */
  warm?(namespace: string): Promise<void>;
  /** Live counters for every workload, when the runtime must ask another process for them. */
  refreshStats?(): Promise<void>;
  /** The processes the runtime keeps for its workloads (runners), with what the last refresh learnt about them. */
  processes?(): ProcessStats[];
  /** Stops every workload and frees the runtime. */
  close(): Promise<void>;
}
