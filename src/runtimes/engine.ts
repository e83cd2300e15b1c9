/**
 * The seam a runner process drives: a function engine turns an artifact into a callable function.
 * `v8` and `wasm` implement it in their folders. An engine never sees a NATS connection: each workload it loads
 * comes with its own bindings (host services already scoped to that workload, and a log sink).
 */
import type { LogStream, WorkloadSpec } from "../contract/index.js";
import type { HostServices } from "../hostservices/index.js";

/** One message that triggered a function. Headers are plain (name → values), so engines need no NATS types. */
export interface Invocation {
  subject: string;
  payload: Uint8Array;
  headers?: Record<string, string[]>;
  reply?: string;
  /** The `traceparent` of this invocation's span, when the runner traces: host calls made under it are its children. */
  traceparent?: string;
  /** Durable triggers: which delivery of the message this is (1 for the first), and its stable id. */
  deliveryCount?: number;
  messageId?: string;
  /** Schedules: the tick this run is for (ISO time). */
  scheduledAt?: string;
}

/** What a function answers. */
export interface InvocationResult {
  body: Uint8Array;
  headers?: Record<string, string>;
}

/** A loaded function, ready to be invoked many times. */
export interface LoadedFunction {
  /** Runs the function once; rejects with a NexError (NEX_E_FUNCTION_*) on failure. */
  invoke(inv: Invocation): Promise<InvocationResult>;
  /** Idle eviction (engines that evict): whether the function is evicted now, and how often it was evicted and woken. */
  status?(): FunctionStatus;
  /** Frees everything the function holds. */
  dispose(): void;
}

/** What an engine that evicts idle functions says about one. */
export interface FunctionStatus {
  /** True while it holds no isolate (evicted); the next invocation rebuilds it. */
  idle: boolean;
  evictions: number;
  wakes: number;
}

/** What one workload is given: its host services (its capabilities) and where its log lines go. */
export interface WorkloadBindings {
  readonly services: HostServices;
  /**
   * The same services with each call traced as a child of the invocation span `traceparent` (see
   * `Invocation.traceparent`); present only when the runner traces. Engines use it for calls they can attribute.
   */
  traced?(traceparent: string): HostServices;
  log(stream: LogStream, line: string): void;
  /** Lines the engine dropped at the source (over `logLimits`, before they crossed a thread), for the log notice. */
  logDropped?(count: number): void;
}

/** The host services for a call made under `traceparent` (the plain ones when it is undefined or nothing traces). */
export function servicesFor(b: WorkloadBindings, traceparent: string | undefined): HostServices {
  return traceparent !== undefined && b.traced ? b.traced(traceparent) : b.services;
}

/** Caps on a function's log (the runner enforces them; engines apply them at the source too, to bound memory). */
export interface LogLimits {
  /** Lines per invocation. */
  readonly linesPerInvocation: number;
  /** Bytes per second, per function. */
  readonly bytesPerSecond: number;
  /** Longest line, in bytes; longer lines are cut. */
  readonly lineBytes: number;
}

/** The log caps an engine applies when its runner gives none (the node passes NODE_DEFAULTS' values, the same). */
export const DEFAULT_LOG_LIMITS: LogLimits = { linesPerInvocation: 1_000, bytesPerSecond: 1_048_576, lineBytes: 16_384 };

/** What an engine gets from its runner once, at start. */
export interface EngineContext {
  readonly nodeId: string;
  /** Largest reply a function may produce (the server's max_payload). */
  readonly maxReplyBytes: number;
  /** Most invocations sent into one isolate or module in one go (engines that batch use it). */
  readonly batchSize: number;
  /** Caps on each function's log; default DEFAULT_LOG_LIMITS. */
  readonly logLimits?: LogLimits;
  /** Engines that can: free a function's isolate after this long without an invocation (0 or absent: never). */
  readonly idleEvictMs?: number;
}

/** Compiles artifacts into loaded functions. */
export interface FunctionEngine {
  /** Compiles once; rejects with NEX_E_BAD_ARTIFACT when the artifact is not a valid function. */
  load(spec: WorkloadSpec, code: Uint8Array, bindings: WorkloadBindings): Promise<LoadedFunction>;
  close(): Promise<void>;
}

