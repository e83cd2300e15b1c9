/**
 * Boots a fresh context: the prelude, the web runtime, URL, the host-service API (`kv`, `objectStore`, `messaging`,
 * `http`, `fetch`) and the invoker, in that order and before any user code. Each runtime script is a function the
 * host calls with the host callbacks it needs; they pass the invocation state to each other through these calls and
 * never through the global object, so no host hook is ever reachable from user code.
 * This file also owns the host side of timers and randomness, and the gate that refuses host calls made while no
 * invocation runs.
 */
import { randomBytes } from "node:crypto";
import type IVM from "isolated-vm";
import ivm from "./ivm.js";
import type { WorkloadSpec } from "../../contract/index.js";
import { callHost, hostError, type HostServices } from "../../hostservices/index.js";
import { servicesFor, type LogLimits, type WorkloadBindings } from "../engine.js";
import { API_SOURCE } from "./api-source.js";
import { compileRuntimeScript } from "./compile.js";
import { INVOKER, PRELUDE } from "./prelude.js";
import { URL_SOURCE } from "./url-source.js";
import { WEB_SOURCE } from "./web-source.js";

/**
 * What the host side of an isolate asks its engine: whether the isolate may use the host now (while it loads, or
 * while an invocation runs), and where the isolate's outbox goes when it was filled outside a trip (see PRELUDE).
 */
export interface Gate {
  open(): boolean;
  /** `[answers, calls]`, copied out of the isolate. */
  report(outbox: unknown): void;
}

/**
 * Whom a booted context works for, read at each call: a context may be booted ahead of time (a spare, for a wake)
 * and handed to its function afterwards.
 */
export interface Tenant {
  spec: Pick<WorkloadSpec, "timeoutMs">;
  b: WorkloadBindings;
  gate: Gate;
}

/** A booted context, waiting for the user's function. */
export interface BootedContext {
  /** Turns the user's function into the `[single, run, ping, watch]` invokers (see INVOKER) and ends the top-level run. */
  bind: IVM.Reference<(user: unknown, name: string, namespace: string) => unknown[]>;
  /** Cancels every pending host timer (called when no invocation runs any more). */
  idle(): void;
  /** Releases what the host holds for this isolate. */
  release(): void;
}

/** A host value as it may be copied into the isolate: bytes are sliced so a view never drags its whole backing buffer along. */
function owned(v: unknown): unknown {
  if (v === null || v === undefined || typeof v !== "object") return v ?? null;
  return v instanceof Uint8Array ? v.slice() : Array.isArray(v) ? v.map((x: unknown) => (x instanceof Uint8Array ? x.slice() : x)) : v;
}

/** Copies a host value into the isolate (the synchronous calls' answer). */
function out(v: unknown): unknown {
  const value = owned(v);
  return value === null || typeof value !== "object" ? value : new ivm.ExternalCopy(value).copyInto({ release: true });
}

/**
 * Runs one host call from the isolate. Refused unless `open` (an invocation ran when it was made). The result goes
 * through `copyable` before it is copied into the isolate.
 */
export function hostCall(services: HostServices, open: boolean, op: string, args: unknown): Promise<unknown> {
  if (!open) return Promise.reject(hostError("host", "denied", "host services answer only while an invocation runs; this call came after its invocation settled"));
  return callHost(services, op, Array.isArray(args) ? args : []);
}

/** A host call's result as the isolate gets it; `text` asks for an HTTP body as a string (decoded here: faster than in the isolate). */
export function copyable(op: string, text: unknown, r: unknown): unknown {
  if (op !== "http" || text !== true || r === null || typeof r !== "object" || !("body" in r)) return owned(r);
  const res = r as { status: number; headers: Record<string, string>; body: Uint8Array };
  return { status: res.status, headers: res.headers, response: new TextDecoder().decode(res.body) };
}

/** Compiles one runtime script (code-cached) and returns the function it evaluates to. */
async function factory(isolate: IVM.Isolate, context: IVM.Context, source: string, filename: string): Promise<IVM.Reference<(...a: unknown[]) => unknown>> {
  return (await (await compileRuntimeScript(isolate, source, filename)).run(context, { reference: true })) as IVM.Reference<(...a: unknown[]) => unknown>;
}

/** The log callback: lines go to the workload's sink, "dropped" reports go to its counter. */
function logCallback(who: Tenant): IVM.Callback {
  return new ivm.Callback(
    (stream: string, line: string) => {
      if (stream === "dropped") who.b.logDropped?.(Number(line));
      else who.b.log(stream === "stderr" ? "stderr" : "stdout", String(line));
    },
    { ignored: true },
  );
}

/** Boots the runtime into a fresh context (once per isolate, never per call). */
export async function bootContext(
  isolate: IVM.Isolate,
  context: IVM.Context,
  who: Tenant,
  limits: LogLimits,
): Promise<BootedContext> {
  const timers = new Map<number, NodeJS.Timeout>();
  let fire: IVM.Reference<(id: number) => void> | undefined;
  const held: IVM.Reference[] = [];
  const call = async (source: string, filename: string, args: IVM.Transferable[]): Promise<IVM.Reference> => {
    const fn = await factory(isolate, context, source, filename);
    held.push(fn);
    const r = (await fn.apply(undefined, args, { result: { reference: true } })) as IVM.Reference;
    held.push(r);
    return r;
  };
  const timerSet = new ivm.Callback(
    (id: number, ms: number) => {
      if (!who.gate.open()) return;
      clearTimeout(timers.get(id));
      timers.set(
        id,
        setTimeout(() => {
          timers.delete(id);
          if (isolate.isDisposed || !who.gate.open()) return;
          // A callback that runs away is stopped by the isolate's watchdog here, or by the invocation's host timer.
          fire?.apply(undefined, [id], { timeout: who.spec.timeoutMs }).catch(() => undefined);
        }, ms),
      );
    },
    { ignored: true },
  );
  const timerClear = new ivm.Callback(
    (id: number) => {
      clearTimeout(timers.get(id));
      timers.delete(id);
    },
    { ignored: true },
  );
  const random = new ivm.Callback((size: number) => out(new Uint8Array(randomBytes(Math.min(65_536, Math.max(0, size | 0))))));
  // `span`: the traceparent of the invocation the isolate attributes the call to, when it can tell.
  const host = new ivm.Reference(async (op: string, args: unknown, text: unknown, span: unknown) =>
    out(copyable(op, text, await hostCall(servicesFor(who.b, typeof span === "string" ? span : undefined), who.gate.open(), op, args))),
  );
  held.push(host);
  const maxChars = Math.max(1, limits.lineBytes);
  const report = new ivm.Callback((outbox: unknown) => who.gate.report(outbox), { ignored: true });
  const rt = await call(PRELUDE, "nex:prelude", [logCallback(who), report, limits.linesPerInvocation, maxChars, limits.bytesPerSecond]);
  fire = (await call(WEB_SOURCE, "nex:web", [rt.derefInto(), random, timerSet, timerClear])) as IVM.Reference<(id: number) => void>;
  await (await compileRuntimeScript(isolate, URL_SOURCE, "nex:url")).run(context);
  await call(API_SOURCE, "nex:api", [rt.derefInto(), host]);
  const bind = (await call(INVOKER, "nex:invoker", [rt.derefInto()])) as BootedContext["bind"];
  const idle = (): void => {
    for (const t of timers.values()) clearTimeout(t);
    timers.clear();
  };
  return {
    bind,
    idle,
    release: () => {
      idle();
      for (const r of held) r.release();
      held.length = 0;
      fire = undefined;
    },
  };
}
