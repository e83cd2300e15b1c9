/**
 * NATS failures recognised by their classes and codes, never by the text of their messages.
 * `@nats-io/services` brings its own copy of nats-core, so class checks also accept the class name.
 */
import { NoRespondersError, PermissionViolationError, RequestError, TimeoutError } from "@nats-io/nats-core";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";

function named(err: unknown, name: string): boolean {
  return err instanceof Error && err.name === name;
}

/** A request that found nobody listening. */
export function isNoResponders(err: unknown): boolean {
  if (err instanceof NoRespondersError || named(err, "NoResponders")) return true;
  if (err instanceof RequestError || named(err, "RequestError")) return isNoResponders((err as Error).cause);
  return false;
}

/** A JetStream API request nobody served (nats.js says "jetstream is not enabled"): none there, or none there yet. */
export function isJetStreamNotServed(err: unknown): boolean {
  if (named(err, "JetStreamNotEnabled")) return true;
  return isNoResponders(err);
}

/** A request or operation that ran out of time. */
export function isTimeout(err: unknown): boolean {
  if (err instanceof TimeoutError || named(err, "TimeoutError")) return true;
  if (err instanceof RequestError || named(err, "RequestError")) return isTimeout((err as Error).cause);
  return false;
}

/** A publish or subscribe the server refused for lack of permission. */
export function isPermissionViolation(err: unknown): boolean {
  if (err instanceof PermissionViolationError || named(err, "PermissionViolationError")) return true;
  if (err instanceof Error && err.cause !== undefined) return isPermissionViolation(err.cause);
  return false;
}

/** The JetStream API error code (`err_code`) of a failure, if it is a JetStream API error. */
export function jsApiCode(err: unknown): number | undefined {
  if (err instanceof JetStreamApiError) return err.code;
  if (err instanceof Error && err.cause !== undefined) return jsApiCode(err.cause);
  return undefined;
}

/** JetStream API codes nex-ts reacts to (the server's `err_code` values). */
export const JsCodes = {
  ...JetStreamApiCodes,
  /** `stream name already in use with a different configuration` */
  StreamNameInUse: 10058,
  /** `resource limits exceeded for account` */
  AccountResourcesExceeded: 10002,
  /** `maximum number of streams reached` */
  MaximumStreamsLimit: 10027,
  /** `maximum consumers limit reached` */
  MaximumConsumersLimit: 10026,
  /** `insufficient storage resources available` */
  InsufficientStorage: 10047,
  /** `insufficient memory resources available` */
  InsufficientMemory: 10028,
  /** `replicas > 1 not supported in non-clustered mode` */
  ReplicasNotSupported: 10074,
  /** `error creating store for stream`: on 2.9 a new account's first replicated stream can race its own setup */
  StoreCreation: 10049,
  /** `subjects overlap with an existing stream` */
  StreamSubjectOverlap: 10065,
  /** `JetStream system temporarily unavailable`: a clustered request with no leader to answer it yet */
  ClusterNotAvailable: 10008,
  /** `consumer name already in use` (a durable made at the same moment with another config) */
  ConsumerNameExists: 10013,
} as const;

/** A stream (or KV bucket, or object store) that does not exist. */
export function isStreamNotFound(err: unknown): boolean {
  return jsApiCode(err) === JsCodes.StreamNotFound;
}
