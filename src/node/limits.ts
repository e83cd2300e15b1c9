/**
 * A node's maximums for one workload. A deploy over any of them is refused with NEX_E_LIMIT, naming the limit and the
 * maximum, before its artifact is fetched; an auction that names such a limit gets no bid from this node. A limit the
 * node cannot enforce at all (a CPU limit without a cgroup cpu controller) is NEX_E_UNSUPPORTED_LIMIT.
 *
 * ```ts
 * overMaximum("native", { cpus: 8 }, maximums);   // NexError NEX_E_LIMIT "cpus: 8 CPUs is over this node's maximum of 2 CPUs (--max-cpus)"
 * ```
 */
import {
  NexError,
  isFunctionType,
  type RequestedLimits,
  type WorkloadMaximums,
  type WorkloadType,
} from "../contract/index.js";
import type { LimitSupport } from "../runtimes/runtime.js";

interface LimitInfo {
  field: keyof WorkloadMaximums;
  flag: string;
  unit: string;
  /** Whether workloads of a type have this limit at all (a service has no invocation timeout). */
  applies(type: WorkloadType): boolean;
}

const LIMITS: readonly LimitInfo[] = [
  { field: "memoryLimitMiB", flag: "--max-memory-mib", unit: " MiB", applies: () => true },
  { field: "timeoutMs", flag: "--max-timeout-ms", unit: " ms", applies: isFunctionType },
  { field: "maxProcesses", flag: "--max-processes", unit: "", applies: (t) => !isFunctionType(t) },
  { field: "cpus", flag: "--max-cpus", unit: " CPUs", applies: (t) => !isFunctionType(t) },
];

const HINT = "Ask for less, or deploy without --node so that placement picks a node whose maximums allow it.";

/** The error a request over one of this node's maximums gets, or undefined when it is within all of them. */
export function overMaximum(type: WorkloadType, asked: RequestedLimits, max: WorkloadMaximums): NexError | undefined {
  for (const l of LIMITS) {
    const v = asked[l.field];
    if (v === undefined || !l.applies(type) || v <= max[l.field]) continue;
    return new NexError("NEX_E_LIMIT", `${l.field}: ${v}${l.unit} is over this node's maximum of ${max[l.field]}${l.unit} (${l.flag})`, { hint: HINT });
  }
  return undefined;
}

/** The error a request for a limit this node cannot enforce gets, or undefined. */
export function unsupportedLimit(type: WorkloadType, asked: RequestedLimits, support: LimitSupport | undefined): NexError | undefined {
  if (asked.cpus === undefined || isFunctionType(type) || support?.cpus) return undefined;
  return new NexError("NEX_E_UNSUPPORTED_LIMIT", "cpus: this node has no cgroup cpu controller it may use, so it cannot hold a workload to a CPU limit");
}

/**
 * Lowers the limits a deploy left to their defaults to this node's maximums: a node with a low maximum runs a deploy
 * that asked for nothing within it, instead of refusing it for a value the sender never chose.
 */
export function capDefaults<T extends { memoryLimitMiB: number; timeoutMs: number; maxProcesses: number }>(
  spec: T,
  body: Record<string, unknown>,
  max: WorkloadMaximums,
): T {
  const left = (k: string): boolean => body[k] === undefined || body[k] === null;
  return {
    ...spec,
    memoryLimitMiB: left("memoryLimitMiB") ? Math.min(spec.memoryLimitMiB, max.memoryLimitMiB) : spec.memoryLimitMiB,
    timeoutMs: left("timeoutMs") ? Math.min(spec.timeoutMs, max.timeoutMs) : spec.timeoutMs,
    maxProcesses: left("maxProcesses") ? Math.min(spec.maxProcesses, max.maxProcesses) : spec.maxProcesses,
  };
}
