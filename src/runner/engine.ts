/**
 * The seam inside a runner process: an engine turns an artifact into a callable function.
 * `v8` and `wasm` each implement it in their runtime folder.
 */
import type { MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import type { WorkloadSpec } from "../contract/index.js";

/** One message that triggered a function. */
export interface Invocation {
  subject: string;
  payload: Uint8Array;
  headers?: MsgHdrs;
  reply?: string;
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
  /** Frees everything the function holds. */
  dispose(): void;
}

/** What an engine gets from its runner. */
export interface EngineContext {
  readonly nc: NatsConnection;
  readonly nodeId: string;
  readonly autoCreateBuckets: boolean;
  /** Publishes a log line for a workload. */
  log(spec: WorkloadSpec, stream: "stdout" | "stderr", line: string): void;
}

/** Compiles artifacts into loaded functions. */
export interface FunctionEngine {
  /** Compiles once; rejects with NEX_E_BAD_ARTIFACT when the artifact is not a valid function. */
  load(spec: WorkloadSpec, code: Uint8Array): Promise<LoadedFunction>;
  close(): Promise<void>;
}

/** Builds an engine for a runner. */
export type EngineFactory = (ctx: EngineContext) => Promise<FunctionEngine>;
