/**
 * The IPC protocol between a node and its runner processes (Node's `advanced` serialization, so bytes stay bytes).
 * The node's end is `supervisor.ts`; the runner's end is `src/runner/main.ts`.
 */
import type { ErrorBody, EventData, WorkloadSpec, WorkloadType } from "../../contract/index.js";
import type { ConnectionConfig } from "../../nats/connect.js";
import type { RuntimeTunables, WorkloadActivity, WorkloadStats } from "../runtime.js";

/** Settings a runner receives once, at start. */
export interface RunnerInit {
  /** The function type whose engine the runner hosts. */
  kind: WorkloadType;
  nodeId: string;
  namespace: string;
  /** The runner's own connection (its functions may get their own, in `deploy`). */
  connection: ConnectionConfig;
  autoCreateBuckets: boolean;
  /** Hosts and CIDRs opened in the egress policy of functions' HTTP calls. */
  allowEgress: string[];
  tunables: RuntimeTunables;
  /** Where invocation traces go (OTLP/HTTP); without it the runner loads no tracing code. */
  otlpEndpoint?: string;
}

/** Node → runner. */
export type ToRunner =
  | { t: "init"; rid: number; init: RunnerInit }
  | { t: "deploy"; rid: number; spec: WorkloadSpec; code: Uint8Array; connection?: ConnectionConfig }
  | { t: "stop"; rid: number; id: string }
  | { t: "stats"; rid: number }
  | { t: "inspect"; rid: number; id: string }
  | { t: "tick"; rid: number; id: string; scheduledAt: string }
  | { t: "ping"; rid: number };

/** Runner → node. */
export type FromRunner =
  | { t: "reply"; rid: number; ok: true; data?: unknown }
  | { t: "reply"; rid: number; ok: false; error: ErrorBody }
  | { t: "event"; ns: string; type: "function_failed"; workloadId: string; data: EventData<"function_failed"> }
  | { t: "event"; ns: string; type: "dead_lettered"; workloadId: string; data: EventData<"dead_lettered"> };

/** Reply to `stats`: the runner's resident memory, and counters per workload id. */
export interface StatsReply {
  rssBytes: number;
  functions: Record<string, WorkloadStats>;
}

/** Reply to `stop`: whether the function was there, and its last counters. */
export interface StopReply {
  stopped: boolean;
  stats?: WorkloadStats;
}

/** Reply to `inspect`: the function's recent activity, or nothing when the runner does not hold it. */
export type InspectReply = WorkloadActivity | undefined;
