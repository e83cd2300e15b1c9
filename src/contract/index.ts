/**
 * The wire contract: subjects, request and reply types, their decoders, error codes, events and artifact formats.
 * Every other layer imports this one, and it imports nothing of ours.
 *
 * ```ts
 * import { subjects, decode, parseBody, NexError } from "nex-ts/contract";
 * const subject = subjects.control("default", "DEPLOY", nodeId);
 * const req = decode.deploy(parseBody(bytes), "default");   // throws a coded NexError naming the bad field
 * ```
 */
export { BUNDLE_MARKER, IMPORT_LINE, MODULE_GLOBAL, MODULE_TAIL } from "./artifacts.js";
export { DEPLOY_DEFAULTS, FIELD_LIMITS, decode, decodeType, durableTriggers, durationMs, parseBody, quote, typeFromFileName } from "./decode.js";
export { MIN_SCHEDULE_MS, nextTick, parseSchedule } from "./schedule.js";
export type { Schedule } from "./schedule.js";
export { ERRORS, Headers, NexError, headerValue, isErrorCode } from "./errors.js";
export type { ErrorBody, ErrorCode, ErrorSpec } from "./errors.js";
export { EventType, cloudEventType, parseEvent, shortEventType } from "./events.js";
export type { EventData, EventDataMap, HeartbeatData, NexEvent } from "./events.js";
export {
  ARTIFACT_BUCKET,
  BROADCAST_VERBS,
  CLAIM_STREAM,
  CONTROL_SERVICE_NAME,
  ControlVerb,
  DEFAULT_NAMESPACE,
  DLQ_STREAM,
  FEED_STREAM,
  NEX_ROOT,
  NODES_BUCKET,
  RESERVED_PREFIXES,
  SCHEDULE_BUCKET,
  STATE_BUCKET,
  TRIGGER_CONSUMER,
  TRIGGER_STREAM,
  SYSTEM_NAMESPACE,
  isName,
  subjects,
  triggerSubjectProblem,
} from "./subjects.js";
export type { LogStream } from "./subjects.js";
export { FUNCTION_TYPES, MASKED_VALUE, WORKLOAD_TYPES, WORKLOAD_TYPE_NAMES, isFunctionType, isWorkloadType } from "./types.js";
export type {
  AuctionRequest,
  Bid,
  DeployReply,
  DeployRequest,
  ErrorRecord,
  InspectReply,
  InspectRequest,
  InvocationRecord,
  LameduckReply,
  LameduckRequest,
  Lifecycle,
  ListReply,
  ListRequest,
  NodeInfo,
  NodeState,
  NodeSummary,
  PingRequest,
  PlaceRequest,
  DesiredSummary,
  RequestedWorkload,
  RequestedLimits,
  RestartPolicy,
  RunnerInfo,
  StopReply,
  StopRequest,
  WorkloadMaximums,
  WorkloadInspection,
  WorkloadSpec,
  WorkloadState,
  WorkloadSummary,
  WorkloadType,
  WorkloadTypeInfo,
} from "./types.js";
export { VERSION } from "./version.js";
