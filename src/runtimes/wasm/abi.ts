/**
 * The `nex` import module: the stable ABI between a WASM function and its host services (docs/wasm.md).
 * Numbers here are part of the ABI: never renumber a status, only add new ones.
 */

import type { HostOp } from "../../hostservices/index.js";

/** The import module name a WASM function uses for host services. */
export const NEX_MODULE = "nex";

/** Status codes the `nex` imports return. Non-negative values are lengths of the pending result. */
export const NexStatus = {
  /** Success (for calls that return no data). */
  OK: 0,
  /** The KV key or object does not exist. */
  NOT_FOUND: -1,
  /** An argument is invalid: pointer out of bounds, bad UTF-8, bad bucket, subject, URL or method. */
  INVALID: -2,
  /** A request found no responders. */
  NO_RESPONDERS: -3,
  /** The service did not answer in time. */
  TIMEOUT: -4,
  /** Any other failure of the service; the pending result holds the message. */
  FAILED: -5,
  /** The workload may not use this bucket, subject or host. */
  DENIED: -6,
  /** A size or rate limit was hit (a response body over the cap, …). */
  LIMIT: -7,
} as const;


/** A host-service call, as the worker sends it to the runner's main thread: an operation of the shared table. */
export interface HostRequest {
  op: HostOp;
  args: unknown[];
}

/** The answer to a host-service call: a status, and the bytes of the result (or of the error message). */
export interface HostReply {
  status: number;
  data: Uint8Array;
  /** HTTP status code, for `http`. */
  httpStatus?: number;
}
