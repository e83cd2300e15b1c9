/**
 * The host-services seam: what a function may do outside its sandbox. Engines (v8, wasm) receive one
 * `HostServices` object per workload, already scoped to what that workload may reach; they never see a NATS
 * connection. `nats.ts` implements it for runners, `memory.ts` for tests.
 */
import { NexError } from "../contract/index.js";

/** Object metadata as functions see it. */
export interface ObjectInfoLite {
  bucket: string;
  name: string;
  size: number;
  digest: string;
  mtime: string;
  chunks: number;
}

/** HTTP methods functions may use. */
export const HTTP_METHODS = ["get", "post", "put", "patch", "delete", "head"] as const;
/** One HTTP method. */
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** An outgoing HTTP request. */
export interface HttpRequest {
  method: HttpMethod;
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  timeoutMs?: number;
}

/** An HTTP response; the body is bytes. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** Why a host-service call failed; wasm modules see these as ABI statuses, JS functions as `err.reason`. */
export type HostFailure = "not_found" | "invalid" | "denied" | "no_responders" | "timeout" | "limit" | "failed";

/** A failed host-service call: always NEX_E_HOST_SERVICE, with the reason and a message naming the service. */
export function hostError(service: string, reason: HostFailure, what: string, cause?: unknown): NexError {
  const why = cause === undefined ? "" : `: ${cause instanceof Error ? cause.message : String(cause)}`;
  return new NexError("NEX_E_HOST_SERVICE", `${service}: ${what}${why}`, { cause, reason });
}

/** The reason of a host-service failure (`failed` for anything that is not one). */
export function failureOf(err: unknown): HostFailure {
  return err instanceof NexError && err.code === "NEX_E_HOST_SERVICE" && isFailure(err.reason) ? err.reason : "failed";
}

function isFailure(s: unknown): s is HostFailure {
  return typeof s === "string" && ["not_found", "invalid", "denied", "no_responders", "timeout", "limit", "failed"].includes(s);
}

/**
 * The host services of one workload. Every call is bounded in time and fails with NEX_E_HOST_SERVICE
 * (see `hostError`); a missing key or object is `null`, not an error.
 */
export interface HostServices {
  kvGet(bucket: string, key: string): Promise<Uint8Array | null>;
  /** Returns the new revision. */
  kvSet(bucket: string, key: string, value: Uint8Array): Promise<number>;
  kvDelete(bucket: string, key: string): Promise<void>;
  /** Keys, sorted, optionally filtered (`a.*`, `a.>`). */
  kvKeys(bucket: string, filter?: string): Promise<string[]>;
  objGet(bucket: string, name: string): Promise<Uint8Array | null>;
  objPut(bucket: string, name: string, data: Uint8Array): Promise<ObjectInfoLite>;
  /** True when the object existed. */
  objDelete(bucket: string, name: string): Promise<boolean>;
  objList(bucket: string): Promise<ObjectInfoLite[]>;
  /** `headers` come from the host (a trace's `traceparent`), never from the function. */
  publish(subject: string, data: Uint8Array, headers?: Record<string, string>): Promise<void>;
  request(subject: string, data: Uint8Array, timeoutMs?: number, headers?: Record<string, string>): Promise<Uint8Array>;
  /** Every reply that arrives within `maxWaitMs` (or until `maxMessages`). */
  requestMany(subject: string, data: Uint8Array, maxWaitMs?: number, maxMessages?: number, headers?: Record<string, string>): Promise<Uint8Array[]>;
  http(req: HttpRequest): Promise<HttpResponse>;
}
