/**
 * The one table of host-service operations, shared by every engine: a v8 function's `kv("b").get(k)` and a wasm
 * module's `nex.kv_get` both arrive here as `("kv.get", [bucket, key])`. Arguments come from untrusted code, so each
 * operation decodes them strictly before it calls the workload's HostServices.
 *
 * ```ts
 * const value = await callHost(services, "kv.get", ["iot", "dev1"]);
 * ```
 */
import { HTTP_METHODS, hostError, type HostServices, type HttpMethod, type HttpResponse, type ObjectInfoLite } from "./types.js";

/** What each operation returns. */
export interface HostResults {
  "kv.get": Uint8Array | null;
  "kv.set": number;
  "kv.delete": void;
  "kv.keys": string[];
  "obj.get": Uint8Array | null;
  "obj.put": ObjectInfoLite;
  "obj.delete": boolean;
  "obj.list": ObjectInfoLite[];
  "msg.publish": void;
  "msg.request": Uint8Array;
  "msg.requestMany": Uint8Array[];
  http: HttpResponse;
}

/** A host-service operation name. */
export type HostOp = keyof HostResults;

type Impl<O extends HostOp> = (hs: HostServices, a: readonly unknown[]) => Promise<HostResults[O]>;

function str(service: string, what: string, v: unknown): string {
  if (typeof v !== "string" || v.length === 0) throw hostError(service, "invalid", `${what} must be a non-empty string`);
  return v;
}

function optStr(service: string, what: string, v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : str(service, what, v);
}

function bytes(service: string, what: string, v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === "string") return new TextEncoder().encode(v);
  if (v === undefined || v === null) return new Uint8Array(0);
  throw hostError(service, "invalid", `${what} must be bytes or a string`);
}

function optNum(service: string, what: string, v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw hostError(service, "invalid", `${what} must be a non-negative number`);
  return v;
}

function headers(v: unknown): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw hostError("http", "invalid", "headers must be an object of strings");
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) out[k] = String(val);
  return out;
}

/** The operations, each decoding its own arguments. */
export const HOST_OPS: { [O in HostOp]: Impl<O> } = {
  "kv.get": (hs, a) => hs.kvGet(str("kv", "bucket", a[0]), str("kv", "key", a[1])),
  "kv.set": (hs, a) => hs.kvSet(str("kv", "bucket", a[0]), str("kv", "key", a[1]), bytes("kv", "value", a[2])),
  "kv.delete": (hs, a) => hs.kvDelete(str("kv", "bucket", a[0]), str("kv", "key", a[1])),
  "kv.keys": (hs, a) => hs.kvKeys(str("kv", "bucket", a[0]), a[1] === "" ? undefined : optStr("kv", "filter", a[1])),
  "obj.get": (hs, a) => hs.objGet(str("objectStore", "bucket", a[0]), str("objectStore", "name", a[1])),
  "obj.put": (hs, a) => hs.objPut(str("objectStore", "bucket", a[0]), str("objectStore", "name", a[1]), bytes("objectStore", "data", a[2])),
  "obj.delete": (hs, a) => hs.objDelete(str("objectStore", "bucket", a[0]), str("objectStore", "name", a[1])),
  "obj.list": (hs, a) => hs.objList(str("objectStore", "bucket", a[0])),
  "msg.publish": (hs, a) => hs.publish(str("messaging", "subject", a[0]), bytes("messaging", "data", a[1])),
  "msg.request": (hs, a) => hs.request(str("messaging", "subject", a[0]), bytes("messaging", "data", a[1]), optNum("messaging", "timeoutMs", a[2])),
  "msg.requestMany": (hs, a) =>
    hs.requestMany(
      str("messaging", "subject", a[0]),
      bytes("messaging", "data", a[1]),
      optNum("messaging", "maxWaitMs", a[2]),
      optNum("messaging", "maxMessages", a[3]),
    ),
  http: (hs, a) => {
    const method = String(a[0] ?? "").toLowerCase();
    if (!HTTP_METHODS.includes(method as HttpMethod)) throw hostError("http", "invalid", `unsupported method "${String(a[0])}"`);
    const body = a[3] === undefined || a[3] === null ? undefined : bytes("http", "body", a[3]);
    return hs.http({ method: method as HttpMethod, url: str("http", "url", a[1]), headers: headers(a[2]), body, timeoutMs: optNum("http", "timeoutMs", a[4]) });
  },
};

/** True when `op` names an operation. */
export function isHostOp(op: unknown): op is HostOp {
  return typeof op === "string" && Object.prototype.hasOwnProperty.call(HOST_OPS, op);
}

/** Runs one operation for a workload; rejects with NEX_E_HOST_SERVICE (reason `invalid` for bad arguments), never throws. */
export function callHost<O extends HostOp>(hs: HostServices, op: O, args: readonly unknown[]): Promise<HostResults[O]>;
export function callHost(hs: HostServices, op: string, args: readonly unknown[]): Promise<unknown>;
export function callHost(hs: HostServices, op: string, args: readonly unknown[]): Promise<unknown> {
  if (!isHostOp(op)) return Promise.reject(hostError("host", "invalid", `unknown host call "${op}"`));
  try {
    return (HOST_OPS[op] as Impl<HostOp>)(hs, Array.isArray(args) ? args : []);
  } catch (err) {
    // Argument checks throw before the operation starts.
    return Promise.reject(err);
  }
}
