/**
 * Every NATS subject nex-ts uses is built here, and nowhere else.
 *
 * ```ts
 * import { subjects } from "./subjects.js";
 * subjects.control("default", "DEPLOY", nodeId); // "$NEX.SVC.default.control.DEPLOY.<nodeId>"
 * ```
 */

/** The root of every subject nex-ts owns. */
export const NEX_ROOT = "$NEX";

/** The control API verbs. */
export const ControlVerb = {
  PING: "PING",
  INFO: "INFO",
  AUCTION: "AUCTION",
  DEPLOY: "DEPLOY",
  STOP: "STOP",
  LIST: "LIST",
  LAMEDUCK: "LAMEDUCK",
  /** Node to node: start one more instance of a stored workload (the control plane only). */
  PLACE: "PLACE",
  INSPECT: "INSPECT",
} as const;
/** One of the control API verbs. */
export type ControlVerb = (typeof ControlVerb)[keyof typeof ControlVerb];

/** Verbs that every node answers (scatter-gather) when sent without a node id. */
export const BROADCAST_VERBS: readonly ControlVerb[] = ["PING", "AUCTION", "LIST"];

/** The namespace that node-wide events and heartbeats use. */
export const SYSTEM_NAMESPACE = "system";

/** The namespace a workload lands in when none is given. */
export const DEFAULT_NAMESPACE = "default";

/** The micro service name every node registers, so `$SRV.PING.nex-node` finds them all. */
export const CONTROL_SERVICE_NAME = "nex-node";

/** Object store bucket that `nex devrun` uploads artifacts to. */
export const ARTIFACT_BUCKET = "NEX_ARTIFACTS";

/** KV bucket of desired state: one signed entry per workload (`<ns>.<name>`). */
export const STATE_BUCKET = "NEX_STATE";

/** KV bucket of observed state: each node's lease (`lease.<nodeId>`) and its instances (`inst.<nodeId>.<id>`). */
export const NODES_BUCKET = "NEX_NODES";

/** Stream that decides who moves a lost node's workload: the first non-duplicate claim wins. */
export const CLAIM_STREAM = "NEX_CLAIMS";

/** Prefix of the streams that keep a namespace's recent logs and events (`NEX_FEED_<ns>`), so `nex logs` shows history. */
export const FEED_STREAM = "NEX_FEED";

/** Prefix of the streams that hold a durable function's trigger messages (`NEX_TRIG_<ns>~<name>`). */
export const TRIGGER_STREAM = "NEX_TRIG";

/** The durable consumer that every instance of a durable function shares. */
export const TRIGGER_CONSUMER = "nex";

/** Prefix of the streams that keep a namespace's dead letters (`NEX_DLQ_<ns>`). */
export const DLQ_STREAM = "NEX_DLQ";

/** KV bucket of schedule runs: the last tick of each scheduled function, and whether it is still running. */
export const SCHEDULE_BUCKET = "NEX_SCHED";

/** Output streams of a workload. */
export type LogStream = "stdout" | "stderr";

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** True when `s` is a valid single subject token for nex names (namespace, workload name, node id). */
export function isName(s: unknown): s is string {
  return typeof s === "string" && s.length > 0 && s.length <= 64 && TOKEN.test(s);
}

function token(kind: string, s: string): string {
  if (!isName(s)) throw new Error(`invalid ${kind} "${s}": use letters, digits, '_' and '-' (at most 64)`);
  return s;
}

/** Builds nex-ts subjects. Every argument is validated, so a bad name can never widen a subscription. */
export const subjects = {
  /** Control API subject: `$NEX.SVC.<ns>.control.<VERB>[.<nodeId>]`. Use `"*"` as ns only for subscriptions. */
  control(ns: string, verb: ControlVerb, nodeId?: string): string {
    const n = ns === "*" ? ns : token("namespace", ns);
    const base = `${NEX_ROOT}.SVC.${n}.control.${verb}`;
    return nodeId === undefined ? base : `${base}.${nodeId === "*" ? "*" : token("node id", nodeId)}`;
  },

  /** Every control subject of a namespace (or of all, with `"*"`): `$NEX.SVC.<ns>.control.>`. */
  controlAll(ns: string): string {
    return `${NEX_ROOT}.SVC.${ns === "*" ? ns : token("namespace", ns)}.control.>`;
  },

  /** Every feed subject of a namespace: `$NEX.FEED.<ns>.>`. */
  feedAll(ns: string): string {
    return `${NEX_ROOT}.FEED.${token("namespace", ns)}.>`;
  },

  /** Log lines of one workload: `$NEX.FEED.<ns>.logs.<name>.<id>.<stream>`. */
  logs(ns: string, name: string, id: string, stream: LogStream): string {
    return `${NEX_ROOT}.FEED.${token("namespace", ns)}.logs.${token("name", name)}.${token("id", id)}.${stream}`;
  },

  /** A filter for log lines: all of a namespace, one workload name, or one instance; all streams or one. */
  logsFilter(ns: string, name?: string, id?: string, stream?: LogStream): string {
    const base = `${NEX_ROOT}.FEED.${ns === "*" ? "*" : token("namespace", ns)}.logs`;
    const n = name === undefined ? "*" : token("name", name);
    const i = id === undefined ? "*" : token("id", id);
    if (stream !== undefined) return `${base}.${n}.${i}.${stream === "stderr" ? "stderr" : "stdout"}`;
    if (name === undefined && id === undefined) return `${base}.>`;
    if (id === undefined) return `${base}.${n}.>`;
    return `${base}.${n}.${i}.*`;
  },

  /** A CloudEvent of one type: `$NEX.FEED.<ns>.events.<type>`. */
  event(ns: string, type: string): string {
    return `${NEX_ROOT}.FEED.${token("namespace", ns)}.events.${token("event type", type)}`;
  },

  /** A filter for events of one namespace (or `"*"` for all), of every type or of one. */
  eventsFilter(ns: string, type?: string): string {
    return `${NEX_ROOT}.FEED.${ns === "*" ? "*" : token("namespace", ns)}.events.${type === undefined ? "*" : token("event type", type)}`;
  },

  /** A claim on placing one replica of a workload (published to the claim stream with a dedupe id). */
  claim(ns: string, name: string): string {
    return `${NEX_ROOT}.CLAIM.${token("namespace", ns)}.${token("name", name)}`;
  },

  /** The subjects the claim stream captures. */
  claimStreamSubjects(): string[] {
    return [`${NEX_ROOT}.CLAIM.>`];
  },

  /** Where a claim's winner announces the replica it is placing (so other nodes count it while it starts). */
  placing(ns: string, name: string): string {
    return `${NEX_ROOT}.PLACING.${token("namespace", ns)}.${token("name", name)}`;
  },

  /** Every placing announcement. */
  placingAll(): string {
    return `${NEX_ROOT}.PLACING.>`;
  },

  /** The stream that keeps one namespace's logs and events, under that namespace's own limits. */
  feedStream(ns: string): string {
    return `${FEED_STREAM}_${token("namespace", ns)}`;
  },

  /**
   * The stream behind a durable function's triggers. The namespace is part of the name ('~' never occurs in names),
   * so it is unique even where namespaces share one account.
   */
  triggerStream(ns: string, name: string): string {
    return `${TRIGGER_STREAM}_${token("namespace", ns)}~${token("name", name)}`;
  },

  /** Reads a trigger stream's name back into its namespace and function name. */
  parseTriggerStream(stream: string): { namespace: string; name: string } | undefined {
    if (!stream.startsWith(`${TRIGGER_STREAM}_`)) return undefined;
    const [ns, name, ...rest] = stream.slice(TRIGGER_STREAM.length + 1).split("~");
    return rest.length === 0 && isName(ns) && isName(name) ? { namespace: ns, name } : undefined;
  },

  /** The stream of a namespace's dead letters. */
  dlqStream(ns: string): string {
    return `${DLQ_STREAM}_${token("namespace", ns)}`;
  },

  /** Dead letters of one function: `$NEX.DLQ.<ns>.<name>`; with no name, the filter for the namespace's. */
  dlq(ns: string, name?: string): string {
    return `${NEX_ROOT}.DLQ.${token("namespace", ns)}.${name === undefined ? ">" : token("name", name)}`;
  },

  /** Reads a dead-letter subject back into its namespace and function name. */
  parseDlq(subject: string): { namespace: string; name: string } | undefined {
    const t = subject.split(".");
    return t.length === 4 && t[0] === NEX_ROOT && t[1] === "DLQ" && isName(t[2]) && isName(t[3]) ? { namespace: t[2], name: t[3] } : undefined;
  },

  /** The JetStream advisory a trigger stream's consumer sends when a message used up its deliveries. */
  maxDeliveriesAdvisory(stream = "*"): string {
    return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${TRIGGER_CONSUMER}`;
  },

  /** The subject a scheduled invocation carries: `$NEX.SCHEDULE.<ns>.<name>`. */
  schedule(ns: string, name: string): string {
    return `${NEX_ROOT}.SCHEDULE.${token("namespace", ns)}.${token("name", name)}`;
  },

  /** A claim on running one tick of a schedule (published to the claim stream with a dedupe id). */
  tickClaim(ns: string, name: string): string {
    return `${NEX_ROOT}.CLAIM.${token("namespace", ns)}.${token("name", name)}.tick`;
  },

  /** Queue group for a workload's triggers: instances of one workload share the load, other workloads get their own copy. */
  triggerQueue(ns: string, name: string): string {
    return `nex.${token("namespace", ns)}.${token("name", name)}`;
  },

  /** KV key of one workload's desired state. */
  desiredKey(ns: string, name: string): string {
    return `${token("namespace", ns)}.${token("name", name)}`;
  },

  /** Reads a desired-state key back into its namespace and name. */
  parseDesiredKey(key: string): { namespace: string; name: string } | undefined {
    const t = key.split(".");
    return t.length === 2 && isName(t[0]) && isName(t[1]) ? { namespace: t[0], name: t[1] } : undefined;
  },

  /** KV key of a node's lease. */
  leaseKey(nodeId: string): string {
    return `lease.${token("node id", nodeId)}`;
  },

  /** KV key of one instance a node runs. */
  instanceKey(nodeId: string, instanceId: string): string {
    return `inst.${token("node id", nodeId)}.${token("instance id", instanceId)}`;
  },

  /** Reads a NEX_NODES key: a lease or an instance. */
  parseNodesKey(key: string): { kind: "lease"; nodeId: string } | { kind: "instance"; nodeId: string; id: string } | undefined {
    const t = key.split(".");
    if (t[0] === "lease" && t.length === 2 && isName(t[1])) return { kind: "lease", nodeId: t[1] };
    if (t[0] === "inst" && t.length === 3 && isName(t[1]) && isName(t[2])) return { kind: "instance", nodeId: t[1], id: t[2] };
    return undefined;
  },

  /** The `$SRV` discovery subjects, for a given micro service name. */
  srv(verb: "PING" | "INFO" | "STATS", name?: string): string {
    return name === undefined ? `$SRV.${verb}` : `$SRV.${verb}.${name}`;
  },

  /** Reads a control subject: `$NEX.SVC.<ns>.control.<VERB>[.<nodeId>]`, or undefined when it is not one. */
  parseControl(subject: string): { namespace: string; verb: ControlVerb; nodeId?: string } | undefined {
    const t = subject.split(".");
    if (t.length < 5 || t.length > 6 || t[0] !== NEX_ROOT || t[1] !== "SVC" || t[3] !== "control") return undefined;
    const [namespace, verb, nodeId] = [t[2]!, t[4]!, t[5]];
    if (!isName(namespace) || !Object.prototype.hasOwnProperty.call(ControlVerb, verb)) return undefined;
    if (nodeId !== undefined && !isName(nodeId)) return undefined;
    return nodeId === undefined ? { namespace, verb: verb as ControlVerb } : { namespace, verb: verb as ControlVerb, nodeId };
  },

  /** Reads a log subject: `$NEX.FEED.<ns>.logs.<name>.<id>.<stream>`. */
  parseLogs(subject: string): { namespace: string; name: string; id: string; stream: LogStream } | undefined {
    const t = subject.split(".");
    if (t.length !== 7 || t[0] !== NEX_ROOT || t[1] !== "FEED" || t[3] !== "logs") return undefined;
    const stream = t[6];
    if (stream !== "stdout" && stream !== "stderr") return undefined;
    if (!isName(t[2]) || !isName(t[4]) || !isName(t[5])) return undefined;
    return { namespace: t[2], name: t[4], id: t[5], stream };
  },

  /** Reads an event subject: `$NEX.FEED.<ns>.events.<type>`. */
  parseEvent(subject: string): { namespace: string; type: string } | undefined {
    const t = subject.split(".");
    if (t.length !== 5 || t[0] !== NEX_ROOT || t[1] !== "FEED" || t[3] !== "events" || !isName(t[2]) || !isName(t[4])) return undefined;
    return { namespace: t[2], type: t[4] };
  },
};

/** Prefixes a trigger may not live under: the server's, JetStream's, ours, micro discovery and reply inboxes. */
export const RESERVED_PREFIXES = ["$SYS", "$JS", "$NEX", "$SRV", "$KV", "$O", "_INBOX"] as const;

/** Why `subject` can't be a trigger, or `undefined` when it can. */
export function triggerSubjectProblem(subject: unknown): string | undefined {
  if (typeof subject !== "string" || subject.length === 0) return "a trigger subject must be a non-empty string";
  if (subject.length > 255) return "a trigger subject is at most 255 characters";
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(subject)) return `${JSON.stringify(subject)} contains whitespace or control characters`;
  const tokens = subject.split(".");
  if (tokens.some((t) => t.length === 0)) return `"${subject}" has an empty token`;
  for (const [i, t] of tokens.entries()) {
    if (t.includes(">") && (t !== ">" || i !== tokens.length - 1)) return `"${subject}": '>' must be a whole, last token`;
    if (t.includes("*") && t !== "*") return `"${subject}": '*' must be a whole token`;
  }
  const first = tokens[0]!;
  if (first === "*" || first === ">") return `"${subject}" starts with a wildcard, which would capture system subjects`;
  const upper = first.toUpperCase();
  // `_INBOX_<id>` is a workload's private inbox prefix: reserved as well.
  const reserved = RESERVED_PREFIXES.find((p) => upper === p.toUpperCase() || (p === "_INBOX" && upper.startsWith("_INBOX")));
  if (reserved !== undefined) return `"${subject}" is under ${reserved}, which is reserved`;
  return undefined;
}
