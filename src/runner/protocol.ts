/** The IPC messages between a node and a runner process (Node's `advanced` serialization, so bytes stay bytes). */
import type { ErrorBody, EventType, WorkloadSpec } from "../contract/index.js";
import type { ConnectionConfig } from "../nats/connect.js";
import type { WorkloadStats } from "../runtimes/runtime.js";

/** Which engine a runner hosts. */
export type RunnerKind = "v8" | "wasm";

/** Settings a runner receives once, at start. */
export interface RunnerInit {
  kind: RunnerKind;
  nodeId: string;
  namespace: string;
  connection: ConnectionConfig;
  autoCreateBuckets: boolean;
}

/** Node → runner. */
export type ToRunner =
  | { t: "init"; rid: number; init: RunnerInit }
  | { t: "deploy"; rid: number; spec: WorkloadSpec; code: Uint8Array }
  | { t: "stop"; rid: number; id: string }
  | { t: "stats"; rid: number };

/** Runner → node. */
export type FromRunner =
  | { t: "reply"; rid: number; ok: true; data?: unknown }
  | { t: "reply"; rid: number; ok: false; error: ErrorBody }
  | { t: "event"; ns: string; type: EventType; workloadId: string; data: Record<string, unknown> };

/** Reply to `stats`: counters per workload id. */
export type StatsReply = Record<string, WorkloadStats>;
