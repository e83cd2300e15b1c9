/**
 * Typed decoders for every control API request. Bodies come from the network, so they are decoded strictly: a wrong
 * type is an error, not a default; an unknown field is an error (a misspelled `delayMs` must not be read as 0); every
 * string and list is bounded. Each decoder returns the typed request or throws a coded NexError naming the field.
 * The node's handlers and the client (before it sends) use the same decoders.
 *
 * ```ts
 * const req = decode.lameduck(parseBody(msg.data));   // { delayMs: 30000 } from {"delayMs":"30s"}
 * ```
 */
import { NexError } from "./errors.js";
import { parseSchedule } from "./schedule.js";
import { DEFAULT_NAMESPACE, isName, triggerSubjectProblem } from "./subjects.js";
import {
  WORKLOAD_TYPES,
  WORKLOAD_TYPE_NAMES,
  isFunctionType,
  isWorkloadType,
  type AuctionRequest,
  type DeployRequest,
  type InspectRequest,
  type Lifecycle,
  type ListRequest,
  type PingRequest,
  type RequestedLimits,
  type RestartPolicy,
  type PlaceRequest,
  type RequestedWorkload,
  type StopRequest,
  type WorkloadSpec,
  type WorkloadType,
} from "./types.js";

/** Defaults for fields a deploy request may leave out, and the widest bounds the wire accepts (a node's own maximums are lower). */
export const DEPLOY_DEFAULTS = {
  timeoutMs: 5_000,
  maxProcesses: 64,
  maxTimeoutMs: 15 * 60_000,
  minMemoryLimitMiB: 8,
  maxMemoryLimitMiB: 65_536,
  maxReplicas: 1_000,
  maxDeliver: 5,
  maxMaxDeliver: 100,
  backoff: [1_000, 10_000, 60_000],
  maxBackoffSteps: 20,
  maxBackoffMs: 12 * 3_600_000,
  maxMaxProcesses: 65_536,
  /** A CPU limit is enforced in slices of 1 ms per 100 ms: 0.01 is the smallest share. */
  minCpus: 0.01,
  maxCpus: 1_024,
  /** Largest `maxConcurrency` a deploy may ask for. */
  maxMaxConcurrency: 4_096,
} as const;

/** Size bounds on request fields (a body as a whole is also bounded by the server's max_payload). */
export const FIELD_LIMITS = {
  /** Largest request body a node reads. */
  bodyBytes: 1024 * 1024,
  location: 4096,
  description: 1024,
  triggers: 64,
  argv: 256,
  argBytes: 4096,
  envVars: 256,
  /** All of env's names and values together. */
  envBytes: 64 * 1024,
  tags: 32,
  tagBytes: 256,
  schedule: 128,
  /** Longest delay `LAMEDUCK` accepts. */
  maxLameduckMs: 24 * 3_600_000,
} as const;

const LOCATION = /^(nats:\/\/[A-Za-z0-9_-]+\/[^\s]+|file:\/\/\/[^\s]+|https?:\/\/[^\s]+)$/;
// Control characters other than tab; they would break headers, logs and terminals on the way back.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;
const SHA256 = /^[0-9a-f]{64}$/;
const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function invalid(field: string, why: string): NexError {
  return new NexError("NEX_E_INVALID_FIELD", `${field}: ${why}`);
}

/** Characters JSON.stringify leaves as they are that a terminal or a log viewer may act on. */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/**
 * Quotes an untrusted value for an error message: bounded, and with control, format and line-separator characters
 * escaped. A non-string is shown in outline (a few levels, a few items): a value nested too deep for JSON.stringify
 * must still get its coded error.
 */
export function quote(v: unknown, max = 80): string {
  const s = typeof v === "string" ? v : outline(v, 0);
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return JSON.stringify(cut).replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** A bounded rendering of a decoded JSON value: at most three levels and three items per level. */
function outline(v: unknown, depth: number): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (v === null || typeof v !== "object") return String(v);
  if (depth >= 3) return Array.isArray(v) ? "[…]" : "{…}";
  if (Array.isArray(v)) return `[${v.slice(0, 3).map((x) => outline(x, depth + 1)).join(",")}${v.length > 3 ? ",…" : ""}]`;
  const keys = Object.keys(v);
  const shown = keys.slice(0, 3).map((k) => `${outline(k, 3)}:${outline((v as Record<string, unknown>)[k], depth + 1)}`);
  return `{${shown.join(",")}${keys.length > 3 ? ",…" : ""}}`;
}

/** Parses a JSON body into an object, or throws NEX_E_BAD_REQUEST. An empty body is `{}`. */
export function parseBody(data: Uint8Array, maxBytes: number = FIELD_LIMITS.bodyBytes): Record<string, unknown> {
  if (data.length === 0) return {};
  if (data.length > maxBytes) throw new NexError("NEX_E_BAD_REQUEST", `request body is ${data.length} bytes; at most ${maxBytes} are read`);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data));
  } catch (err) {
    throw new NexError("NEX_E_BAD_REQUEST", `request body is not UTF-8 JSON: ${quote((err as Error).message)}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new NexError("NEX_E_BAD_REQUEST", "request body must be a JSON object");
  return v as Record<string, unknown>;
}

/** Refuses fields a request does not have. */
function only(o: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw invalid(quote(k, 40), "is not a field of this request");
}

function optString(o: Record<string, unknown>, k: string, max: number): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw invalid(k, "must be a string");
  if (v.length > max) throw invalid(k, `must be at most ${max} characters`);
  if (CONTROL.test(v)) throw invalid(k, "must not contain control characters");
  return v;
}

function optName(o: Record<string, unknown>, k: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (!isName(v)) throw invalid(k, "letters, digits, '_' and '-' (at most 64)");
  return v;
}

function optInt(o: Record<string, unknown>, k: string, min: number, max: number): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw invalid(k, `must be an integer from ${min} to ${max}`);
  return v;
}

function optNumber(o: Record<string, unknown>, k: string, min: number, max: number): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) throw invalid(k, `must be a number from ${min} to ${max}`);
  return v;
}

function optBool(o: Record<string, unknown>, k: string): boolean | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw invalid(k, "must be true or false");
  return v;
}

/** A duration: a number of milliseconds, or a string such as "500ms", "30s", "5m", "1h", "1d". */
export function durationMs(v: unknown, field: string, max: number = Number.MAX_SAFE_INTEGER): number {
  let ms: number;
  if (typeof v === "number") {
    if (!Number.isFinite(v) || v < 0) throw invalid(field, "must be a non-negative number of milliseconds");
    ms = v;
  } else if (typeof v === "string") {
    if (CONTROL.test(v)) throw invalid(field, "must not contain control characters");
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v.trim());
    if (!m) throw invalid(field, `${quote(v)} is not a duration (e.g. 500ms, 30s, 5m, 1h)`);
    ms = Number(m[1]) * UNITS[m[2] ?? "ms"]!;
  } else {
    throw invalid(field, "must be a number of milliseconds or a duration string like \"30s\"");
  }
  if (ms > max) throw invalid(field, `must be at most ${max} ms`);
  return Math.round(ms);
}

/** Reads an optional string→string map of at most `maxEntries` entries. */
function optStringMap(o: Record<string, unknown>, k: string, maxEntries: number, maxBytes: number): Record<string, string> | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw invalid(k, "must be an object of strings");
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > maxEntries) throw invalid(k, `must have at most ${maxEntries} entries`);
  let bytes = 0;
  for (const [key, val] of entries) {
    if (typeof val !== "string") throw invalid(`${k}.${quote(key, 40)}`, "must be a string");
    if (val.includes("\u0000") || key.includes("\u0000")) throw invalid(`${k}.${quote(key, 40)}`, "must not contain NUL");
    bytes += key.length + val.length;
  }
  if (bytes > maxBytes) throw invalid(k, `must be at most ${maxBytes} bytes in all`);
  // Own properties, whatever the key: an assignment `out["__proto__"] = v` would set the prototype and drop the entry.
  return Object.fromEntries(entries as [string, string][]);
}

function optStringArray(o: Record<string, unknown>, k: string, maxItems: number, maxLen: number): string[] | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw invalid(k, "must be an array of strings");
  if (v.length > maxItems) throw invalid(k, `must have at most ${maxItems} items`);
  for (const s of v as string[]) {
    if (s.length > maxLen) throw invalid(k, `items must be at most ${maxLen} characters`);
    if (s.includes("\u0000")) throw invalid(k, "items must not contain NUL");
  }
  return v as string[];
}

function oneOf<T extends string>(o: Record<string, unknown>, k: string, allowed: readonly T[]): T | undefined {
  const v = optString(o, k, 64);
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) throw invalid(k, `must be one of ${allowed.join(", ")}`);
  return v as T;
}

/** Tags: names and values are tokens, so they can go into subjects and tables safely. */
function optTags(o: Record<string, unknown>, k: string): Record<string, string> | undefined {
  const tags = optStringMap(o, k, FIELD_LIMITS.tags, FIELD_LIMITS.tags * FIELD_LIMITS.tagBytes);
  if (!tags) return undefined;
  for (const [key, val] of Object.entries(tags)) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(key)) throw invalid(`${k}.${quote(key, 40)}`, "tag names are letters, digits, '_', '.' and '-'");
    if (val.length > FIELD_LIMITS.tagBytes || CONTROL.test(val)) throw invalid(`${k}.${key}`, `at most ${FIELD_LIMITS.tagBytes} characters, no control characters`);
  }
  return tags;
}

/** The workload type, or NEX_E_UNKNOWN_TYPE. */
export function decodeType(v: unknown): WorkloadType {
  if (v === undefined || v === null) throw invalid("type", `required (${WORKLOAD_TYPE_NAMES.join(", ")})`);
  if (!isWorkloadType(v)) throw new NexError("NEX_E_UNKNOWN_TYPE", `unknown workload type ${quote(v, 40)}: use ${WORKLOAD_TYPE_NAMES.join(", ")}`);
  return v;
}

const DEPLOY_FIELDS = [
  "name", "namespace", "type", "location", "sha256", "description", "argv", "env", "triggers", "timeoutMs", "maxConcurrency",
  "memoryLimitMiB", "lifecycle", "restart", "tags", "noNetwork", "maxProcesses", "replicas", "spread", "cpus",
  "durable", "maxDeliver", "backoff", "schedule", "noOverlap",
] as const satisfies readonly (keyof DeployRequest)[];

/** The limits a deploy or an auction may name, each within the wire's bounds. */
function requestedLimits(body: Record<string, unknown>): RequestedLimits {
  const out: RequestedLimits = {};
  const memoryLimitMiB = optInt(body, "memoryLimitMiB", DEPLOY_DEFAULTS.minMemoryLimitMiB, DEPLOY_DEFAULTS.maxMemoryLimitMiB);
  const timeoutMs = optInt(body, "timeoutMs", 1, DEPLOY_DEFAULTS.maxTimeoutMs);
  const maxProcesses = optInt(body, "maxProcesses", 1, DEPLOY_DEFAULTS.maxMaxProcesses);
  const cpus = optNumber(body, "cpus", DEPLOY_DEFAULTS.minCpus, DEPLOY_DEFAULTS.maxCpus);
  if (memoryLimitMiB !== undefined) out.memoryLimitMiB = memoryLimitMiB;
  if (timeoutMs !== undefined) out.timeoutMs = timeoutMs;
  if (maxProcesses !== undefined) out.maxProcesses = maxProcesses;
  if (cpus !== undefined) out.cpus = cpus;
  return out;
}

/** Decodes a DEPLOY body and fills in defaults. The namespace comes from the subject when the body has none. */
function deploy(body: Record<string, unknown>, subjectNamespace?: string): RequestedWorkload {
  only(body, DEPLOY_FIELDS);
  const name = body["name"];
  if (!isName(name)) throw invalid("name", "required; letters, digits, '_' and '-' (at most 64)");
  const namespace = optName(body, "namespace") ?? subjectNamespace ?? DEFAULT_NAMESPACE;
  if (subjectNamespace !== undefined && namespace !== subjectNamespace) {
    throw invalid("namespace", `${quote(namespace)} does not match the subject's namespace ${quote(subjectNamespace)}`);
  }
  const type = decodeType(body["type"]);
  const location = optString(body, "location", FIELD_LIMITS.location);
  if (location === undefined) throw invalid("location", "required");
  if (!LOCATION.test(location)) throw new NexError("NEX_E_BAD_LOCATION", `unsupported artifact location ${quote(location)}`);
  const sha256 = optString(body, "sha256", 64);
  if (sha256 !== undefined && !SHA256.test(sha256)) throw invalid("sha256", "must be 64 lowercase hex digits");
  const isFunction = isFunctionType(type);
  const triggers = optStringArray(body, "triggers", FIELD_LIMITS.triggers, 255) ?? [];
  for (const t of triggers) {
    const problem = triggerSubjectProblem(t);
    if (problem !== undefined) throw new NexError("NEX_E_FORBIDDEN_SUBJECT", problem);
  }
  if (!isFunction && triggers.length > 0) throw invalid("triggers", "only functions have trigger subjects");
  const schedule = optString(body, "schedule", FIELD_LIMITS.schedule);
  if (schedule !== undefined) {
    if (!isFunction) throw invalid("schedule", "only functions run on a schedule");
    parseSchedule(schedule);
  }
  if (isFunction && triggers.length === 0 && schedule === undefined) throw invalid("triggers", "a function needs at least one trigger subject, or a schedule");
  const noOverlap = optBool(body, "noOverlap");
  if (noOverlap !== undefined && schedule === undefined) throw invalid("noOverlap", "only a scheduled function has ticks that could overlap");
  const retries = decodeRetries(body, triggers, isFunction);
  const lifecycle: Lifecycle = oneOf(body, "lifecycle", ["service", "job", "function"] as const) ?? (isFunction ? "function" : "service");
  if (isFunction !== (lifecycle === "function")) {
    throw invalid("lifecycle", isFunction ? "functions have lifecycle function" : "services are a service or a job");
  }
  const maxConcurrency = optInt(body, "maxConcurrency", 1, DEPLOY_DEFAULTS.maxMaxConcurrency);
  if (!isFunction && maxConcurrency !== undefined) throw invalid("maxConcurrency", "only functions have a concurrency limit");
  const restart: RestartPolicy = oneOf(body, "restart", ["never", "on-failure", "always"] as const) ?? (lifecycle === "job" ? "never" : "on-failure");
  const limits = requestedLimits(body);
  if (isFunction && limits.cpus !== undefined) throw invalid("cpus", "only native workloads have a CPU limit");
  const argv = optStringArray(body, "argv", FIELD_LIMITS.argv, FIELD_LIMITS.argBytes) ?? [];
  const env = optStringMap(body, "env", FIELD_LIMITS.envVars, FIELD_LIMITS.envBytes) ?? {};
  for (const k of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw invalid(`env.${quote(k, 40)}`, "not a valid variable name");
    // The dynamic loader's variables would reach the node's privileged launch helpers before the sandbox does.
    if (/^LD_|^GCONV_PATH$/.test(k)) throw invalid(`env.${k}`, "dynamic loader variables are not allowed");
  }
  return {
    name,
    namespace,
    type,
    location,
    sha256,
    description: optString(body, "description", FIELD_LIMITS.description),
    argv,
    env,
    triggers,
    timeoutMs: limits.timeoutMs ?? DEPLOY_DEFAULTS.timeoutMs,
    maxConcurrency: maxConcurrency ?? WORKLOAD_TYPES[type].defaultMaxConcurrency,
    memoryLimitMiB: limits.memoryLimitMiB ?? WORKLOAD_TYPES[type].defaultMemoryMiB,
    lifecycle,
    restart,
    tags: optTags(body, "tags") ?? {},
    noNetwork: optBool(body, "noNetwork") ?? false,
    maxProcesses: limits.maxProcesses ?? DEPLOY_DEFAULTS.maxProcesses,
    ...(limits.cpus !== undefined ? { cpus: limits.cpus } : {}),
    replicas: optInt(body, "replicas", 1, DEPLOY_DEFAULTS.maxReplicas) ?? 1,
    spread: optBool(body, "spread") ?? false,
    ...retries,
    ...(schedule !== undefined ? { schedule } : {}),
    noOverlap: noOverlap ?? false,
  };
}

/** `durable`, `maxDeliver` and `backoff` of a deploy: which triggers a stream keeps, and how failures are retried. */
function decodeRetries(body: Record<string, unknown>, triggers: string[], isFunction: boolean): Pick<RequestedWorkload, "durable" | "maxDeliver" | "backoff"> {
  const raw = body["durable"];
  let durable: boolean | string[] | undefined;
  if (raw === undefined || raw === null) durable = undefined;
  else if (typeof raw === "boolean") durable = raw;
  else {
    durable = optStringArray(body, "durable", FIELD_LIMITS.triggers, 255);
    for (const t of durable ?? []) if (!triggers.includes(t)) throw invalid("durable", `${quote(t, 80)} is not one of the function's triggers`);
    if (new Set(durable).size !== durable?.length) throw invalid("durable", "lists a trigger twice");
  }
  const on = durable === true || (Array.isArray(durable) && durable.length > 0);
  if (on && !isFunction) throw invalid("durable", "only functions have durable triggers");
  if (on && triggers.length === 0) throw invalid("durable", "a durable function needs trigger subjects");
  const maxDeliver = optInt(body, "maxDeliver", 1, DEPLOY_DEFAULTS.maxMaxDeliver);
  const backoffRaw = body["backoff"];
  let backoff: number[] | undefined;
  if (backoffRaw !== undefined && backoffRaw !== null) {
    if (!Array.isArray(backoffRaw) || backoffRaw.length === 0 || backoffRaw.length > DEPLOY_DEFAULTS.maxBackoffSteps) {
      throw invalid("backoff", `must be a list of 1 to ${DEPLOY_DEFAULTS.maxBackoffSteps} delays in milliseconds`);
    }
    for (const d of backoffRaw) {
      if (typeof d !== "number" || !Number.isInteger(d) || d < 0 || d > DEPLOY_DEFAULTS.maxBackoffMs) {
        throw invalid("backoff", `delays are whole milliseconds from 0 to ${DEPLOY_DEFAULTS.maxBackoffMs}`);
      }
    }
    backoff = backoffRaw as number[];
  }
  if (!on && (maxDeliver !== undefined || backoff !== undefined)) {
    throw invalid(maxDeliver !== undefined ? "maxDeliver" : "backoff", "only durable triggers are retried: add durable");
  }
  const out: Pick<RequestedWorkload, "durable" | "maxDeliver" | "backoff"> = {
    maxDeliver: maxDeliver ?? DEPLOY_DEFAULTS.maxDeliver,
    backoff: backoff ?? [...DEPLOY_DEFAULTS.backoff],
  };
  if (durable !== undefined) out.durable = durable;
  return out;
}

/** The trigger subjects of `spec` that a stream keeps. */
export function durableTriggers(spec: Pick<WorkloadSpec, "durable" | "triggers">): string[] {
  if (spec.durable === true) return [...spec.triggers];
  if (Array.isArray(spec.durable)) return spec.triggers.filter((t) => (spec.durable as string[]).includes(t));
  return [];
}

/** The control API's request decoders, one per verb. */
export const decode = {
  deploy,

  /** PING: `{tags?}`. */
  ping(body: Record<string, unknown>): PingRequest {
    only(body, ["tags"]);
    const tags = optTags(body, "tags");
    return tags ? { tags } : {};
  },

  /** INFO: `{}`. */
  info(body: Record<string, unknown>): Record<string, never> {
    only(body, []);
    return {};
  },

  /** AUCTION: `{type, tags?, namespace?, memoryLimitMiB?, timeoutMs?, maxProcesses?, cpus?}`. */
  auction(body: Record<string, unknown>): AuctionRequest {
    only(body, ["type", "tags", "namespace", "sandbox", "exclude", "memoryLimitMiB", "timeoutMs", "maxProcesses", "cpus"]);
    const req: AuctionRequest = { type: decodeType(body["type"]), ...requestedLimits(body) };
    if (isFunctionType(req.type) && req.cpus !== undefined) throw invalid("cpus", "only native workloads have a CPU limit");
    const tags = optTags(body, "tags");
    if (tags) req.tags = tags;
    const sandbox = optBool(body, "sandbox");
    if (sandbox !== undefined) req.sandbox = sandbox;
    const exclude = optStringArray(body, "exclude", 1_000, 64);
    if (exclude) {
      for (const n of exclude) if (!isName(n)) throw invalid("exclude", "node ids only");
      req.exclude = exclude;
    }
    const ns = optName(body, "namespace");
    if (ns) req.namespace = ns;
    return req;
  },

  /** STOP: exactly one of `{id}` or `{name}`. */
  stop(body: Record<string, unknown>): StopRequest {
    only(body, ["id", "name", "deleteStream"]);
    const id = optName(body, "id");
    const name = optName(body, "name");
    if ((id === undefined) === (name === undefined)) throw invalid("id", "stop needs exactly one of id or name");
    const deleteStream = optBool(body, "deleteStream");
    if (deleteStream !== undefined && name === undefined) throw invalid("deleteStream", "a trigger stream belongs to a workload name: stop by name");
    const req: StopRequest = id !== undefined ? { id } : { name: name! };
    if (deleteStream !== undefined) req.deleteStream = deleteStream;
    return req;
  },

  /** INSPECT: exactly one of `{id}` or `{name}`. */
  inspect(body: Record<string, unknown>): InspectRequest {
    only(body, ["id", "name"]);
    const id = optName(body, "id");
    const name = optName(body, "name");
    if ((id === undefined) === (name === undefined)) throw invalid("id", "inspect needs exactly one of id or name");
    return id !== undefined ? { id } : { name: name! };
  },

  /** LIST: `{name?, offset?}`. */
  list(body: Record<string, unknown>): ListRequest {
    only(body, ["name", "offset"]);
    const name = optName(body, "name");
    const offset = optInt(body, "offset", 0, Number.MAX_SAFE_INTEGER);
    return { ...(name ? { name } : {}), ...(offset ? { offset } : {}) };
  },

  /** PLACE: `{name, generation}`. */
  place(body: Record<string, unknown>): PlaceRequest {
    only(body, ["name", "generation"]);
    const name = optName(body, "name");
    if (name === undefined) throw invalid("name", "required");
    const generation = optInt(body, "generation", 1, Number.MAX_SAFE_INTEGER);
    if (generation === undefined) throw invalid("generation", "required");
    return { name, generation };
  },

  /** LAMEDUCK: `{delayMs?}`, a number of milliseconds or a duration string. */
  lameduck(body: Record<string, unknown>): { delayMs: number } {
    only(body, ["delayMs"]);
    const v = body["delayMs"];
    return { delayMs: v === undefined || v === null ? 0 : durationMs(v, "delayMs", FIELD_LIMITS.maxLameduckMs) };
  },
};

/** Picks the workload type from a file name, as `nex devrun` does when `--type` is absent. */
export function typeFromFileName(file: string): WorkloadType {
  const lower = file.toLowerCase();
  for (const t of WORKLOAD_TYPE_NAMES) {
    if ((WORKLOAD_TYPES[t].extensions as readonly string[]).some((ext) => lower.endsWith(ext))) return t;
  }
  return "native";
}
