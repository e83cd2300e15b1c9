/** Request and reply shapes of the control API. All are JSON on the wire. */

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
export type WorkloadState = "starting" | "running" | "backoff" | "stopping" | "stopped" | "exited" | "failed";

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
}

/** A deploy request with every default filled in: what nodes store and runtimes receive. */
export interface WorkloadSpec extends Required<Omit<DeployRequest, "sha256" | "description" | "tags" | "noNetwork" | "maxProcesses">> {
  id: string;
  sha256?: string;
  description?: string;
  tags: Record<string, string>;
  noNetwork: boolean;
  maxProcesses: number;
  /** When the spec was accepted (ISO time). */
  createdAt: string;
}

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

/** Body of INFO: the node and its workloads. */
export interface NodeInfo extends NodeSummary {
  namespaces: string[] | "*";
  sandbox: boolean;
  workloadList: WorkloadSummary[];
}

/** Body of PING (optional). */
export interface PingRequest {
  /** Only nodes whose tags include all of these answer. */
  tags?: Record<string, string>;
}

/** Body of AUCTION. Nodes that can take the workload answer with a bid; others stay silent. */
export interface AuctionRequest {
  type: WorkloadType;
  tags?: Record<string, string>;
  namespace?: string;
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
}

/** Body of STOP: by id, or by name in the namespace of the subject. */
export interface StopRequest {
  id?: string;
  name?: string;
}

/** Reply to STOP. */
export interface StopReply {
  stopped: { id: string; name: string }[];
}

/** Body of LIST (optional). */
export interface ListRequest {
  name?: string;
}

/** Reply to LIST: the workloads of one node in the subject's namespace. */
export interface ListReply {
  nodeId: string;
  workloads: WorkloadSummary[];
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
