/** Turns untrusted control API bodies into typed values, or a coded NexError that names the bad field. */
import { NexError } from "./errors.js";
import { DEFAULT_NAMESPACE, isName, triggerSubjectProblem } from "./subjects.js";
import {
  FUNCTION_TYPES,
  WorkloadType,
  type DeployRequest,
  type Lifecycle,
  type RestartPolicy,
  type WorkloadSpec,
} from "./types.js";

/** Defaults for fields a deploy request may leave out. */
export const DEPLOY_DEFAULTS = {
  timeoutMs: 5_000,
  memoryLimitMiB: 64,
  serviceMemoryLimitMiB: 256,
  maxProcesses: 64,
  maxTimeoutMs: 15 * 60_000,
  maxMemoryLimitMiB: 4096,
} as const;

const LOCATION = /^(nats:\/\/[A-Za-z0-9_-]+\/.+|file:\/\/\/.+|https?:\/\/.+)$/;

function invalid(field: string, why: string): NexError {
  return new NexError("NEX_E_INVALID_FIELD", `${field}: ${why}`);
}

/** Parses a JSON body into an object, or throws NEX_E_BAD_REQUEST. An empty body is `{}`. */
export function parseBody(data: Uint8Array): Record<string, unknown> {
  if (data.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(data));
  } catch (err) {
    throw new NexError("NEX_E_BAD_REQUEST", `request body is not JSON: ${(err as Error).message}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new NexError("NEX_E_BAD_REQUEST", "request body must be a JSON object");
  }
  return v as Record<string, unknown>;
}

function optString(o: Record<string, unknown>, k: string, max = 4096): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw invalid(k, "must be a string");
  if (v.length > max) throw invalid(k, `must be at most ${max} characters`);
  return v;
}

function optInt(o: Record<string, unknown>, k: string, min: number, max: number): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(k, `must be an integer from ${min} to ${max}`);
  }
  return v;
}

/** Reads an optional string→string map. */
export function optStringMap(o: Record<string, unknown>, k: string): Record<string, string> | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw invalid(k, "must be an object of strings");
  const out: Record<string, string> = {};
  for (const [key, val] of Object.entries(v as Record<string, unknown>)) {
    if (typeof val !== "string") throw invalid(`${k}.${key}`, "must be a string");
    out[key] = val;
  }
  return out;
}

function optStringArray(o: Record<string, unknown>, k: string): string[] | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw invalid(k, "must be an array of strings");
  return v as string[];
}

function oneOf<T extends string>(o: Record<string, unknown>, k: string, allowed: readonly T[]): T | undefined {
  const v = optString(o, k);
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) throw invalid(k, `must be one of ${allowed.join(", ")}`);
  return v as T;
}

/** Validates a DEPLOY body. Namespace comes from the subject when the body has none. */
export function validateDeploy(body: Record<string, unknown>, subjectNamespace?: string): Omit<WorkloadSpec, "id" | "createdAt"> {
  const name = body["name"];
  if (!isName(name)) throw invalid("name", "required; letters, digits, '_' and '-' (at most 64)");
  const namespace = optString(body, "namespace") ?? subjectNamespace ?? DEFAULT_NAMESPACE;
  if (!isName(namespace)) throw invalid("namespace", "letters, digits, '_' and '-' (at most 64)");
  if (subjectNamespace !== undefined && namespace !== subjectNamespace) {
    throw invalid("namespace", `"${namespace}" does not match the subject's namespace "${subjectNamespace}"`);
  }
  const type = body["type"];
  if (type === undefined) throw invalid("type", "required (v8, wasm or native)");
  if (typeof type !== "string" || !(type in WorkloadType)) {
    throw new NexError("NEX_E_UNKNOWN_TYPE", `unknown workload type "${String(type)}": use v8, wasm or native`);
  }
  const wtype = type as WorkloadType;
  const location = optString(body, "location");
  if (location === undefined) throw invalid("location", "required");
  if (!LOCATION.test(location)) {
    throw new NexError("NEX_E_BAD_LOCATION", `unsupported artifact location "${location}"`);
  }
  const sha256 = optString(body, "sha256");
  if (sha256 !== undefined && !/^[0-9a-f]{64}$/.test(sha256)) throw invalid("sha256", "must be 64 lowercase hex digits");
  const isFunction = FUNCTION_TYPES.includes(wtype);
  const triggers = optStringArray(body, "triggers") ?? [];
  for (const t of triggers) {
    const problem = triggerSubjectProblem(t);
    if (problem !== undefined) throw new NexError("NEX_E_FORBIDDEN_SUBJECT", problem);
  }
  if (!isFunction && triggers.length > 0) throw invalid("triggers", "only functions (v8, wasm) have trigger subjects");
  if (isFunction && triggers.length === 0) throw invalid("triggers", "a function needs at least one trigger subject");
  const lifecycle: Lifecycle = oneOf(body, "lifecycle", ["service", "job", "function"] as const) ?? (isFunction ? "function" : "service");
  if (isFunction !== (lifecycle === "function")) {
    throw invalid("lifecycle", isFunction ? "functions have lifecycle function" : "native workloads are a service or a job");
  }
  const restart: RestartPolicy =
    oneOf(body, "restart", ["never", "on-failure", "always"] as const) ?? (lifecycle === "job" ? "never" : "on-failure");
  const argv = optStringArray(body, "argv") ?? [];
  const env = optStringMap(body, "env") ?? {};
  for (const k of Object.keys(env)) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw invalid(`env.${k}`, "not a valid variable name");
  const defaultMem = isFunction ? DEPLOY_DEFAULTS.memoryLimitMiB : DEPLOY_DEFAULTS.serviceMemoryLimitMiB;
  const noNetwork = body["noNetwork"];
  if (noNetwork !== undefined && typeof noNetwork !== "boolean") throw invalid("noNetwork", "must be a boolean");
  return {
    name,
    namespace,
    type: wtype,
    location,
    sha256,
    description: optString(body, "description"),
    argv,
    env,
    triggers,
    timeoutMs: optInt(body, "timeoutMs", 1, DEPLOY_DEFAULTS.maxTimeoutMs) ?? DEPLOY_DEFAULTS.timeoutMs,
    memoryLimitMiB: optInt(body, "memoryLimitMiB", 8, DEPLOY_DEFAULTS.maxMemoryLimitMiB) ?? defaultMem,
    lifecycle,
    restart,
    tags: optStringMap(body, "tags") ?? {},
    noNetwork: noNetwork ?? false,
    maxProcesses: optInt(body, "maxProcesses", 1, 65_536) ?? DEPLOY_DEFAULTS.maxProcesses,
  };
}

/** Picks the workload type from a file name, as `nex devrun` does when `--type` is absent. */
export function typeFromFileName(file: string): WorkloadType {
  const lower = file.toLowerCase();
  if (/\.(m?js|cjs|ts|mts)$/.test(lower)) return "v8";
  if (lower.endsWith(".wasm")) return "wasm";
  return "native";
}

/** Re-exported so callers of the contract need one import. */
export type { DeployRequest };
