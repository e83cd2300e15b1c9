/** Lifecycle events, as CloudEvents 1.0 (JSON structured mode) on `$NEX.FEED.<ns>.events.<type>`. */
import type { ErrorCode } from "./errors.js";
import type { Lifecycle, NodeSummary, WorkloadType } from "./types.js";

/** Every event type nex-ts emits. */
export const EventType = {
  NodeStarted: "node_started",
  NodeStopped: "node_stopped",
  NodeLameduck: "node_lameduck",
  NodeHeartbeat: "node_heartbeat",
  RunnerRestarted: "runner_restarted",
  WorkloadDeployed: "workload_deployed",
  WorkloadStopped: "workload_stopped",
  WorkloadFailed: "workload_failed",
  WorkloadExited: "workload_exited",
  WorkloadRestarting: "workload_restarting",
  FunctionFailed: "function_failed",
  NodeLost: "node_lost",
  WorkloadMoved: "workload_moved",
  WorkloadPlaced: "workload_placed",
  WorkloadRefused: "workload_refused",
  StateStoreLost: "state_store_lost",
  StateStoreRestored: "state_store_restored",
  RunnerUnresponsive: "runner_unresponsive",
  ScheduleSkipped: "schedule_skipped",
  DeadLettered: "dead_lettered",
} as const;
/** One event type. */
export type EventType = (typeof EventType)[keyof typeof EventType];

/** What a node heartbeat (and `node_started`) says about its sender. */
export interface HeartbeatData extends NodeSummary {
  heartbeatIntervalMs: number;
}

/** The `data` of each event type. Every event's data also carries the emitting node's `nodeId`. */
export interface EventDataMap {
  node_started: HeartbeatData;
  node_heartbeat: HeartbeatData;
  node_stopped: { nodeId: string };
  node_lameduck: { delayMs: number };
  node_lost: { lostNodeId: string; lastSeenMsAgo: number; workloads: number };
  runner_restarted: { kind: WorkloadType; namespace: string; runner?: number; reason: string; functions: number; delayMs: number };
  workload_deployed: { name: string; type: WorkloadType; triggers: string[]; sha256?: string; restored: boolean; replaced?: string; generation?: number; how?: "deployed" | "placed" | "resumed" };
  workload_stopped: { name: string; type: WorkloadType; reason: string };
  workload_failed: { name?: string; type?: WorkloadType; code: ErrorCode; message: string };
  workload_exited: { name: string; lifecycle: Lifecycle; exitCode: number; oom: boolean; ranMs: number; message: string };
  workload_restarting: { name: string; attempt: number; delayMs: number; exitCode: number; message: string };
  workload_moved: { name: string; type: WorkloadType; from: string; to: string; previousId: string };
  function_failed: { name: string; subject: string; code: ErrorCode; message: string };
  workload_placed: { name: string; type: WorkloadType; generation: number; to: string; by: string };
  workload_refused: { name: string; reason: string };
  state_store_lost: { instances: number; known: number };
  state_store_restored: { restored: number };
  runner_unresponsive: { kind: WorkloadType; namespace: string; runner?: number; silentMs: number; functions: number };
  schedule_skipped: { name: string; tick: string; reason: string };
  dead_lettered: { name: string; subject: string; messageId: string; deliveries: number; code: string; message: string };
}

/** The data of one event type, as sent. */
export type EventData<T extends EventType> = EventDataMap[T];

/** A CloudEvent as nex-ts sends it. */
export interface NexEvent<T = Record<string, unknown>> {
  specversion: "1.0";
  id: string;
  /** `nex://node/<nodeId>` */
  source: string;
  /** `io.nex.<type>` */
  type: string;
  time: string;
  datacontenttype: "application/json";
  /** The workload id or node id the event is about. */
  subject?: string;
  /** The namespace the event belongs to (a CloudEvents extension attribute). */
  nexnamespace: string;
  data: T;
}

/** The CloudEvents `type` for a nex event type. */
export function cloudEventType(t: EventType): string {
  return `io.nex.${t}`;
}

/** Reads a CloudEvent from a message body, or undefined when it is not a nex event of that type. */
export function parseEvent<T extends EventType>(data: Uint8Array, type: T): NexEvent<EventData<T>> | undefined {
  try {
    const ev = JSON.parse(new TextDecoder().decode(data)) as NexEvent<EventData<T>>;
    if (ev === null || typeof ev !== "object" || ev.type !== cloudEventType(type) || typeof ev.data !== "object" || ev.data === null) return undefined;
    return ev;
  } catch {
    return undefined;
  }
}

/** The short nex event type of a CloudEvent, or the raw type when it is not ours. */
export function shortEventType(ce: { type: string }): string {
  return ce.type.startsWith("io.nex.") ? ce.type.slice("io.nex.".length) : ce.type;
}
