/**
 * Host services as seen from inside an isolate: `kv`, `objectStore`, `messaging`, `http` (bare and through `this`),
 * plus the web runtime (`fetch`, `URL`, `TextEncoder`, `crypto`, timers…). The services themselves live in
 * `src/hostservices`; this file bridges them into isolated-vm and owns the host side of timers and randomness.
 */
import { randomBytes } from "node:crypto";
import type { Context, Isolate, Reference } from "isolated-vm";
import type { WorkloadSpec } from "../../contract/index.js";
import { callHost } from "../../hostservices/index.js";
import type { WorkloadBindings } from "../engine.js";
import { API_SOURCE } from "./api-source.js";
import { compileRuntimeScript } from "./compile.js";
import ivm from "./ivm.js";
import { URL_SOURCE } from "./url-source.js";
import { WEB_SOURCE } from "./web-source.js";

/** What an installed isolate holds on the host, released when the isolate is thrown away. */
export interface InstalledBindings {
  /** Cancels the isolate's pending host timers. */
  release(): void;
}

/** Copies a host value into the isolate; bytes are sliced so a view never drags its whole backing buffer along. */
function out(v: unknown): unknown {
  if (v === null || v === undefined || typeof v !== "object") return v ?? null;
  const value = v instanceof Uint8Array ? v.slice() : Array.isArray(v) ? v.map((x: unknown) => (x instanceof Uint8Array ? x.slice() : x)) : v;
  return new ivm.ExternalCopy(value).copyInto({ release: true });
}

/** Runs one host call from the isolate. `text` asks for an HTTP body as a string (decoded here: faster than in the isolate). */
async function dispatch(b: WorkloadBindings, op: string, args: unknown, text: unknown): Promise<unknown> {
  const r = await callHost(b.services, op, Array.isArray(args) ? args : []);
  if (op === "http" && text === true && r !== null && typeof r === "object" && "body" in r) {
    const res = r as { status: number; headers: Record<string, string>; body: Uint8Array };
    return out({ status: res.status, headers: res.headers, response: new TextDecoder().decode(res.body) });
  }
  return out(r);
}

/** Installs the runtime and the host service globals into a fresh context (once per isolate, never per call). */
export async function installHostBindings(isolate: Isolate, context: Context, spec: WorkloadSpec, b: WorkloadBindings): Promise<InstalledBindings> {
  const g = context.global;
  const timers = new Map<number, NodeJS.Timeout>();
  let fire: Reference<(id: number) => void> | undefined;
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
            fire?.apply(undefined, [id], { timeout: spec.timeoutMs }).catch(() => undefined);
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
    new ivm.Reference((op: string, args: unknown, text: unknown) => dispatch(b, op, args, text)),
  );
  fire = (await (await compileRuntimeScript(isolate, WEB_SOURCE, "nex:web")).run(context, { reference: true })) as Reference<
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
