/** Request and reply shapes of the control API. All are JSON on the wire. */
import type { ErrorCode } from "./errors.js";

/** What the wire knows about a workload type. Its implementation is picked in `src/runtimes/registry.ts`. */
export interface WorkloadTypeInfo {
  /** Functions are invoked through trigger subjects; services run until stopped (or, as jobs, to completion). */
  readonly kind: "function" | "service";
  /** File extensions `nex devrun` maps to this type (lowercase, with the dot). */
  readonly extensions: readonly string[];
  /** Memory limit when a deploy gives none. */
  readonly defaultMemoryMiB: number;
  /** Invocations of one function instance that run at once when a deploy gives none (services: always 1, unused). */
  readonly defaultMaxConcurrency: number;
  /** One line for help texts. */
  readonly description: string;
}

/**
 * The workload types nex-ts runs. Adding a type is one line here, one line in `src/runtimes/registry.ts` (the
 * compiler asks for it) and a folder under `src/runtimes/`.
 */
export const WORKLOAD_TYPES = {
  v8: { kind: "function", extensions: [".js", ".mjs", ".cjs", ".ts", ".mts"], defaultMemoryMiB: 64, defaultMaxConcurrency: 64, description: "JavaScript/TypeScript in a V8 isolate" },
  // One invocation per worker thread; 8 is the largest default pool, so by default a function may use every worker.
  wasm: { kind: "function", extensions: [".wasm"], defaultMemoryMiB: 64, defaultMaxConcurrency: 8, description: "a WebAssembly (WASI) module" },
  native: { kind: "service", extensions: [], defaultMemoryMiB: 256, defaultMaxConcurrency: 1, description: "an executable, sandboxed or not" },
} as const satisfies Record<string, WorkloadTypeInfo>;

/** One of the workload types. */
export type WorkloadType = keyof typeof WORKLOAD_TYPES;

/** The type names, in table order. */
export const WORKLOAD_TYPE_NAMES = Object.keys(WORKLOAD_TYPES) as WorkloadType[];

/** True when `s` names a workload type. */
export function isWorkloadType(s: unknown): s is WorkloadType {
  return typeof s === "string" && Object.prototype.hasOwnProperty.call(WORKLOAD_TYPES, s);
}

/** Types that are invoked through trigger subjects. */
export const FUNCTION_TYPES: readonly WorkloadType[] = WORKLOAD_TYPE_NAMES.filter((t) => WORKLOAD_TYPES[t].kind === "function");

/** True when workloads of type `t` are functions. */
export function isFunctionType(t: WorkloadType): boolean {
  return WORKLOAD_TYPES[t].kind === "function";
}

/** How a native workload lives: a long-running service or a job that runs to completion. */
export type Lifecycle = "service" | "job" | "function";

/** What to do when a native workload exits. */
export type RestartPolicy = "never" | "on-failure" | "always";

/** A node's lifecycle state. */
export type NodeState = "starting" | "running" | "lameduck" | "stopping" | "stopped";

/** A workload's state on its node. */
/** `idle`: a JS function deployed and subscribed whose isolate was freed for being idle; its next message wakes it. */
export type WorkloadState = "starting" | "running" | "idle" | "backoff" | "stopping" | "stopped" | "exited" | "failed";

/** What a user asks a node to run (the body of DEPLOY). */
export interface DeployRequest {
  /** Workload name, unique per namespace on a node; deploying the same name again replaces it. */
  name: string;
  namespace?: string;
  type: WorkloadType;
  /** `nats://BUCKET/KEY`, `file:///abs/path` or `http(s)://…`. */
  location: string;
  /** Hex sha256 of the artifact; the node refuses a mismatch. */
  sha256?: string;
  description?: string;
  argv?: string[];
  env?: Record<string, string>;
  /** Trigger subjects (functions only). */
  triggers?: string[];
  /** Per-invocation timeout for functions. */
  timeoutMs?: number;
  /**
   * Functions: most invocations of one instance that run at once (v8: inside its isolate; wasm: on worker threads).
   * More wait in line, within the node's `maxInFlight`.
   */
  maxConcurrency?: number;
  /** Memory limit (functions: per isolate or module; services: per process tree). */
  memoryLimitMiB?: number;
  lifecycle?: Lifecycle;
  restart?: RestartPolicy;
  /** Placement tags the workload asked for (kept for information and re-placement). */
  tags?: Record<string, string>;
  /** Native services: run without network access (sandbox only). */
  noNetwork?: boolean;
  /** Process-count limit for native services. */
  maxProcesses?: number;
  /** How many instances should run (default 1), kept true by every node. */
  replicas?: number;
  /** At most one instance per node (by default instances prefer distinct nodes but may share one). */
  spread?: boolean;
  /** CPU limit for native workloads, in CPUs (0.5 is half of one CPU's time, 2 is two CPUs); none means no limit. */
  cpus?: number;
  /**
   * Functions: keep trigger messages in a JetStream stream (all triggers with `true`, or the ones listed), consumed at
   * least once by one durable consumer that every instance shares. Failures are retried, then dead-lettered.
   */
  durable?: boolean | string[];
  /** Durable triggers: how many times a message is delivered before it goes to the dead letters (default 5). */
  maxDeliver?: number;
  /** Durable triggers: the delays in milliseconds before each retry; the last one repeats (default 1s, 10s, 1m). */
  backoff?: number[];
  /** Functions: run on a schedule, cron in UTC ("*\/5 * * * *", seconds field optional) or "@every 30s". */
  schedule?: string;
  /** Scheduled functions: skip a tick while the previous run is still going. */
  noOverlap?: boolean;
}

/** A deploy request with every default filled in: what nodes store and runtimes receive. */
export interface WorkloadSpec
  extends Required<
    Omit<DeployRequest, "sha256" | "description" | "tags" | "noNetwork" | "maxProcesses" | "replicas" | "spread" | "cpus" | "durable" | "maxDeliver" | "backoff" | "schedule" | "noOverlap">
  > {
  /** The instance's id (each replica has its own). */
  id: string;
  replicas: number;
  spread: boolean;
  /** Which deploy of this name the instance belongs to; a later deploy replaces every instance of an earlier one. */
  generation: number;
  /** The isolation class: a sandboxed native workload is only ever placed, moved or restored on a node with the sandbox. */
  sandboxed: boolean;
  sha256?: string;
  description?: string;
  tags: Record<string, string>;
  noNetwork: boolean;
  maxProcesses: number;
  cpus?: number;
  durable?: boolean | string[];
  maxDeliver: number;
  backoff: number[];
  schedule?: string;
  noOverlap: boolean;
  /** When the spec was accepted (ISO time). */
  createdAt: string;
}

/** A decoded deploy request with its defaults: a spec before a node accepts it (no instance id, no generation yet). */
export type RequestedWorkload = Omit<WorkloadSpec, "id" | "createdAt" | "generation" | "sandboxed">;

/** One workload as `LIST` and `INFO` report it. */
export interface WorkloadSummary {
  id: string;
  name: string;
  namespace: string;
  type: WorkloadType;
  nodeId: string;
  state: WorkloadState;
  lifecycle: Lifecycle;
  triggers: string[];
  location: string;
  sha256?: string;
  startedAt: string;
  /** Invocations (functions) since start. */
  invocations: number;
  /** Failed invocations (functions) since start. */
  failures: number;
  /** Restarts so far (native). */
  restarts: number;
  /** Last exit code (native). */
  exitCode?: number | null;
  /** Last error, shown in `nex ls` so a crash loop is never hidden. */
  lastError?: string;
  /** Which deploy of the name this instance belongs to. */
  generation?: number;
  /** How many instances the workload should have. */
  replicas?: number;
  /** Invocation latency (functions) over about the last minute, measured in the runner; absent when nothing ran. */
  latencyMs?: { p50: number; p99: number };
}

/** A node's public description, in PING, INFO, AUCTION bids and heartbeats. */
export interface NodeSummary {
  nodeId: string;
  name: string;
  version: string;
  state: NodeState;
  startedAt: string;
  uptimeMs: number;
  tags: Record<string, string>;
  types: WorkloadType[];
  workloads: number;
  /** 1-minute load average divided by cpu count. */
  load: number;
  freeMemMiB: number;
}

/** The most one workload may ask a node for; a deploy over any of them is refused with NEX_E_LIMIT. */
export interface WorkloadMaximums {
  memoryLimitMiB: number;
  /** Per-invocation timeout (functions). */
  timeoutMs: number;
  /** Processes of one native workload. */
  maxProcesses: number;
  /** CPUs of one native workload. */
  cpus: number;
}

/** The limits a request asks for (absent ones take the deploy defaults). */
export type RequestedLimits = Partial<Pick<DeployRequest, "memoryLimitMiB" | "timeoutMs" | "maxProcesses" | "cpus">>;

/** Body of INFO: the node and its workloads. */
export interface NodeInfo extends NodeSummary {
  namespaces: string[] | "*";
  sandbox: boolean;
  /** The desired-state store: `lost` while the bucket is gone (the node keeps running what it has). */
  stateStore: "ok" | "lost" | "none";
  /** What one workload may ask for at most. */
  maximums: WorkloadMaximums;
  /** Whether the node can hold native workloads to a CPU limit (it needs a cgroup cpu controller). */
  cpuLimits: boolean;
  /** Runner processes per namespace and function engine (`--runners`); absent from older nodes. */
  runnersPerNamespace?: number;
  /** The runner processes of the namespaces the asker may see (all of them for the control plane); absent from older nodes. */
  runners?: RunnerInfo[];
  workloadList: WorkloadSummary[];
}

/** One runner process, in INFO. */
export interface RunnerInfo {
  type: WorkloadType;
  namespace: string;
  /** Which of the namespace's runners of this type (0 to runnersPerNamespace - 1). */
  runner: number;
  pid: number;
  /** Resident memory at the last stats refresh. */
  rssBytes?: number;
  /** Invocations the process answered for the functions it holds now, since it started. */
  invocations?: number;
}

/** Body of PING (optional). */
export interface PingRequest {
  /** Only nodes whose tags include all of these answer. */
  tags?: Record<string, string>;
}

/**
 * Body of AUCTION. Nodes that can take the workload answer with a bid; others stay silent. The limits the deploy will
 * ask for, when given, keep nodes whose maximums they exceed (or that cannot enforce a CPU limit) out of the bidding.
 */
export interface AuctionRequest extends RequestedLimits {
  type: WorkloadType;
  tags?: Record<string, string>;
  namespace?: string;
  /** Only nodes with the sandbox may bid (a sandboxed workload keeps its isolation class). */
  sandbox?: boolean;
  /** Nodes that should not bid (they already run an instance). */
  exclude?: string[];
}

/** A node's answer to an auction. Lower `score` is a better (less loaded) node. */
export interface Bid {
  node: NodeSummary;
  score: number;
}

/** Reply to DEPLOY. */
export interface DeployReply {
  id: string;
  name: string;
  namespace: string;
  nodeId: string;
  type: WorkloadType;
  /** The id of the workload this deploy replaced, if any. */
  replaced?: string;
  /** Time the node spent on the deploy, from request to ready. */
  deployMs: number;
  /** Which deploy of this name this is (1, 2, …). */
  generation?: number;
  /** How many instances will run (the reconcilers place the others). */
  replicas?: number;
}

/** Body of STOP: by id, or by name in the namespace of the subject. */
export interface StopRequest {
  id?: string;
  name?: string;
  /** With `name`: also delete the durable trigger stream and its unprocessed messages (by default they are kept). */
  deleteStream?: boolean;
}

/** Reply to STOP. */
export interface StopReply {
  stopped: { id: string; name: string }[];
  /** A durable function's trigger stream that was kept, and the messages it holds (they run at the next deploy). */
  keptStream?: { stream: string; messages: number };
  /** The trigger stream that was deleted, when asked to. */
  deletedStream?: string;
}

/** Body of LIST (optional). */
export interface ListRequest {
  name?: string;
  /** Paging: where to go on, from a reply's `next`. */
  offset?: number;
}

/** Reply to LIST: the workloads of one node in the subject's namespace, and what it knows of the rest. */
export interface ListReply {
  nodeId: string;
  workloads: WorkloadSummary[];
  /** The namespace's desired workloads, as this node's copy of the store has them. */
  desired?: DesiredSummary[];
  /** The nodes this node believes are up and serve the namespace: each of them should answer a LIST. */
  liveNodes?: string[];
  /**
   * Present when the list did not fit in one message (the server's max_payload): ask this node again with
   * `offset: next` for the rest. Pages run over the workloads, then the desired workloads.
   */
  next?: number;
}

/** One desired workload: what should run, whatever runs now. */
export interface DesiredSummary {
  name: string;
  namespace: string;
  type: WorkloadType;
  replicas: number;
  spread: boolean;
  generation: number;
  triggers: string[];
  createdAt: string;
  /** A job that ran to completion: it is not run again. */
  done?: { exitCode: number; at: string };
  /** Triggers whose messages a stream keeps (durable functions). */
  durable?: string[];
  /** A scheduled function: its schedule, the next tick (ISO time), and how many ticks were skipped as overlapping. */
  schedule?: string;
  nextRun?: string;
  skippedTicks?: number;
}

/** Body of PLACE (node to node): start an instance of the stored workload `name` at `generation`. */
export interface PlaceRequest {
  name: string;
  generation: number;
}

/** Body of LAMEDUCK. */
export interface LameduckRequest {
  /** How long to keep serving running workloads before draining them and stopping the node: ms, or a duration like "30s". */
  delayMs?: number | string;
}

/** Reply to LAMEDUCK. */
export interface LameduckReply {
  nodeId: string;
  state: NodeState;
}

/** Body of INSPECT: exactly one of `{name}` or `{id}`, in the namespace of the subject. */
export interface InspectRequest {
  id?: string;
  name?: string;
}

/** One recent invocation of a function, as its runner recorded it. */
export interface InvocationRecord {
  /** When it arrived (ISO time). */
  time: string;
  /** From arrival to reply (or failure), in milliseconds. */
  durationMs: number;
  subject: string;
  /** `ok`, or the error code it failed with. */
  outcome: "ok" | ErrorCode;
}

/** One recent failure of a workload. */
export interface ErrorRecord {
  time: string;
  code: ErrorCode;
  message: string;
  /** The trigger subject (functions). */
  subject?: string;
  /** The stack the function's own code threw with, when it threw one. */
  stack?: string;
}

/** One instance of a workload as INSPECT shows it: its summary, its spec (env values masked) and recent activity. */
export interface WorkloadInspection extends WorkloadSummary {
  spec: WorkloadSpec;
  /** The last invocations (at most 50 per instance), oldest first. */
  recentInvocations: InvocationRecord[];
  /** The last failures (at most 10 per instance), oldest first. */
  recentErrors: ErrorRecord[];
}

/** Reply to INSPECT: the instances of the workload on one node. */
export interface InspectReply {
  nodeId: string;
  workloads: WorkloadInspection[];
}

/** What an env value reads as in INSPECT. */
export const MASKED_VALUE = "***";
