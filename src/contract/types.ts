/** Request and reply shapes of the control API. All are JSON on the wire. */

/** The workload types nex-ts runs. */
export const WorkloadType = { v8: "v8", wasm: "wasm", native: "native" } as const;
/** One of the workload types. */
export type WorkloadType = (typeof WorkloadType)[keyof typeof WorkloadType];

/** Types that are invoked through trigger subjects. */
export const FUNCTION_TYPES: readonly WorkloadType[] = ["v8", "wasm"];

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
  /** How long to keep serving running workloads before draining them and stopping the node. */
  delayMs?: number;
}

/** Reply to LAMEDUCK. */
export interface LameduckReply {
  nodeId: string;
  state: NodeState;
}
