/** Lifecycle events, as CloudEvents 1.0 (JSON structured mode) on `$NEX.FEED.<ns>.events.<type>`. */

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
} as const;
/** One event type. */
export type EventType = (typeof EventType)[keyof typeof EventType];

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

/** The short nex event type of a CloudEvent, or the raw type when it is not ours. */
export function shortEventType(ce: { type: string }): string {
  return ce.type.startsWith("io.nex.") ? ce.type.slice("io.nex.".length) : ce.type;
}
