/**
 * Host services as seen from inside an isolate: `kv`, `objectStore`, `messaging`, `http` (bare and through `this`),
 * plus the web runtime (`fetch`, `URL`, `TextEncoder`, `crypto`, timers…). The services themselves live in
 * `src/hostservices`; this file bridges them into isolated-vm and owns the host side of timers and randomness.
 */
import { randomBytes } from "node:crypto";
import ivm from "isolated-vm";
import type { WorkloadSpec } from "../../contract/index.js";
import { HTTP_METHODS, HostServices, type HttpMethod } from "../../hostservices/index.js";
import type { EngineContext } from "../../runner/engine.js";
import { API_SOURCE } from "./api-source.js";
import { compileRuntimeScript } from "./compile.js";
import { URL_SOURCE } from "./url-source.js";
import { WEB_SOURCE } from "./web-source.js";

/** Default bound for KV, object store and messaging calls, further capped by the function's own timeout. */
const CALL_TIMEOUT_MS = 5_000;
/** Default bound for HTTP calls, further capped by the function's own timeout. */
const HTTP_TIMEOUT_MS = 10_000;

/** Per-workload host bindings to install in an isolate. */
export interface HostBindings {
  readonly spec: WorkloadSpec;
  readonly services: HostServices;
}

/** What an installed isolate holds on the host, released when the isolate is thrown away. */
export interface InstalledBindings {
  /** Cancels the isolate's pending host timers. */
  release(): void;
}

/** Creates the bindings factory for one runner. */
export function createHostBindings(ctx: EngineContext): { forWorkload(spec: WorkloadSpec): HostBindings; close(): Promise<void> } {
  return {
    forWorkload: (spec) => ({
      spec,
      // One per workload, so every call is also bounded by the function's timeout.
      services: new HostServices(ctx.nc, {
        autoCreateBuckets: ctx.autoCreateBuckets,
        callTimeoutMs: Math.min(CALL_TIMEOUT_MS, spec.timeoutMs),
        httpTimeoutMs: Math.min(HTTP_TIMEOUT_MS, spec.timeoutMs),
      }),
    }),
    close: async () => undefined,
  };
}

/** Copies a host value into the isolate; bytes are sliced so a view never drags its whole backing buffer along. */
function out(v: unknown): unknown {
  if (v === null || v === undefined || typeof v !== "object") return v ?? null;
  const value = v instanceof Uint8Array ? v.slice() : Array.isArray(v) ? v.map((x: unknown) => (x instanceof Uint8Array ? x.slice() : x)) : v;
  return new ivm.ExternalCopy(value).copyInto({ release: true });
}

function toBytes(v: unknown): Uint8Array {
  if (typeof v === "string") return Buffer.from(v);
  if (v instanceof Uint8Array) return v;
  return new Uint8Array(0);
}

const s = (v: unknown): string => String(v);
const n = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** Maps one call from the isolate onto HostServices. Arguments were copied out of the isolate, so check their types. */
async function dispatch(hs: HostServices, spec: WorkloadSpec, op: string, a: unknown[]): Promise<unknown> {
  const cap = (ms: number | undefined, dflt: number): number => Math.max(1, Math.min(ms ?? dflt, spec.timeoutMs));
  switch (op) {
    case "kv.get":
      return hs.kvGet(s(a[0]), s(a[1]));
    case "kv.set":
      return hs.kvSet(s(a[0]), s(a[1]), toBytes(a[2]));
    case "kv.delete":
      return hs.kvDelete(s(a[0]), s(a[1]));
    case "kv.keys":
      return hs.kvKeys(s(a[0]), a[1] === undefined ? undefined : s(a[1]));
    case "obj.get":
      return hs.objGet(s(a[0]), s(a[1]));
    case "obj.put":
      return hs.objPut(s(a[0]), s(a[1]), toBytes(a[2]));
    case "obj.delete":
      return hs.objDelete(s(a[0]), s(a[1]));
    case "obj.list":
      return hs.objList(s(a[0]));
    case "msg.publish":
      return hs.publish(s(a[0]), toBytes(a[1]));
    case "msg.request":
      return hs.request(s(a[0]), toBytes(a[1]), cap(n(a[2]), CALL_TIMEOUT_MS));
    case "msg.requestMany":
      return hs.requestMany(s(a[0]), toBytes(a[1]), cap(n(a[2]), 1_000), n(a[3]) ?? 0);
    case "http": {
      const method = s(a[0]) as HttpMethod;
      if (!HTTP_METHODS.includes(method)) throw new Error(`http: unsupported method "${method}"`);
      const opts = { headers: (a[3] ?? {}) as Record<string, string>, timeoutMs: cap(n(a[4]), HTTP_TIMEOUT_MS) };
      const body = a[2] === undefined ? undefined : toBytes(a[2]);
      return a[5] === true ? hs.http(method, s(a[1]), body, opts) : hs.httpBytes(method, s(a[1]), body, opts);
    }
    default:
      throw new Error(`unknown host call "${op}"`);
  }
}

/** Installs the runtime and the host service globals into a fresh context (once per isolate, never per call). */
export async function installHostBindings(isolate: ivm.Isolate, context: ivm.Context, b: HostBindings): Promise<InstalledBindings> {
  const g = context.global;
  const timers = new Map<number, NodeJS.Timeout>();
  let fire: ivm.Reference<(id: number) => void> | undefined;
  await g.set("__nexRandom", new ivm.Callback((size: number) => out(new Uint8Array(randomBytes(Math.min(65_536, Math.max(0, size | 0)))))));
  await g.set(
    "__nexTimerSet",
    new ivm.Callback(
      (id: number, ms: number) => {
        timers.set(
          id,
          setTimeout(() => {
            timers.delete(id);
            if (isolate.isDisposed) return;
            // A callback that runs away is stopped by the isolate's watchdog here, or by the invocation's host timer.
            fire?.apply(undefined, [id], { timeout: b.spec.timeoutMs }).catch(() => undefined);
          }, ms),
        );
      },
      { ignored: true },
    ),
  );
  await g.set(
    "__nexTimerClear",
    new ivm.Callback(
      (id: number) => {
        clearTimeout(timers.get(id));
        timers.delete(id);
      },
      { ignored: true },
    ),
  );
  await g.set(
    "__nexHost",
    new ivm.Reference(async (op: string, args: unknown[]) => out(await dispatch(b.services, b.spec, op, Array.isArray(args) ? args : []))),
  );
  fire = (await (await compileRuntimeScript(isolate, WEB_SOURCE, "nex:web")).run(context, { reference: true })) as ivm.Reference<
    (id: number) => void
  >;
  await (await compileRuntimeScript(isolate, URL_SOURCE, "nex:url")).run(context);
  await (await compileRuntimeScript(isolate, API_SOURCE, "nex:api")).run(context);
  return {
    release: () => {
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      fire?.release();
      fire = undefined;
    },
  };
}
