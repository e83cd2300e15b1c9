/**
 * The `nex` import module: the stable ABI between a WASM function and its host services (docs/wasm.md).
 * Numbers here are part of the ABI: never renumber a status, only add new ones.
 */

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
} as const;

/** One of the ABI status codes. */
export type NexStatusCode = (typeof NexStatus)[keyof typeof NexStatus];

/** A host-service call, as the worker sends it to the runner's main thread. */
export type HostRequest =
  | { op: "kv_get"; bucket: string; key: string }
  | { op: "kv_set"; bucket: string; key: string; value: Uint8Array }
  | { op: "kv_delete"; bucket: string; key: string }
  | { op: "kv_keys"; bucket: string; filter: string }
  | { op: "obj_get"; bucket: string; name: string }
  | { op: "obj_put"; bucket: string; name: string; data: Uint8Array }
  | { op: "publish"; subject: string; data: Uint8Array }
  | { op: "request"; subject: string; data: Uint8Array; timeoutMs: number }
  | { op: "http"; method: string; url: string; headers: Record<string, string>; body: Uint8Array };

/** The answer to a host-service call: a status, and the bytes of the result (or of the error message). */
export interface HostReply {
  status: number;
  data: Uint8Array;
  /** HTTP status code, for `http`. */
  httpStatus?: number;
}
