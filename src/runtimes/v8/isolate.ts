/**
 * One function's isolate: built (runtime booted, the user's script run, its function bound) once at deploy and again
 * after a kill, and what the engine keeps about it while invocations run in it.
 */
import type IVM from "isolated-vm";
import ivm from "./ivm.js";
import { NexError, type WorkloadSpec } from "../../contract/index.js";
import type { LogLimits, WorkloadBindings } from "../engine.js";
import { bootContext, type BootedContext, type Gate, type Tenant } from "./bindings.js";
import { describeLoadError } from "./source.js";

/** Extra time the host allows past `timeoutMs` at load time, before it tears the isolate down (the isolate's own timer fires first). */
const HOST_TIMEOUT_GRACE_MS = 250;

/** A function's isolate, ready for trips. */
export interface Live {
  isolate: IVM.Isolate;
  context: IVM.Context;
  /** The trip of one invocation (a lone request takes this shorter path). */
  single: IVM.Reference<(subject: string, payload: Uint8Array, meta: unknown, id: number) => unknown>;
  /** A trip: host-call results in, invocations started, the outbox out. */
  run: IVM.Reference<(starts: unknown[], results: unknown[]) => unknown>;
  /** Answers at once, when the isolate is free to run anything. */
  ping: IVM.Reference<() => number>;
  booted: BootedContext;
  gate: Gate;
  /** Host services and timers work only while the script loads or an invocation sent into this isolate runs. */
  state: { loading: boolean; running: number };
  /** Results of its async host calls, waiting for the next trip: `[callId, ok, value, …]`. */
  results: unknown[];
  trips: number;
  /** Set when an invocation timed out here while others ran: it takes no new invocations and goes when they are done. */
  retired: boolean;
  /** Set while a retired isolate has not answered its ping: what its invocations get if it turns out to be stuck. */
  suspect?: NexError;
  /** Set when the engine stopped it: what the invocations still running in it get. */
  killed?: NexError;
}

/** What an isolate tells its engine outside the trips the engine makes. */
export interface LiveHooks {
  /** The outbox, when it was filled while no trip was open (a timer callback). */
  report(live: Live, outbox: unknown): void;
  /** The isolate died on its own, whatever it was running (a memory kill). */
  died(live: Live): void;
}

/** An isolate with its context and the runtime booted in it, waiting for a function's script. */
export interface Prepared {
  isolate: IVM.Isolate;
  context: IVM.Context;
  booted: BootedContext;
  /** Whom it works for: set when a function takes it. */
  who: Tenant;
}

/** Until a function takes a prepared isolate, it may use no host service and write no log. */
const NOBODY: Tenant = {
  spec: { timeoutMs: 1 },
  b: { services: undefined as never, log: () => undefined },
  gate: { open: () => false, report: () => undefined },
};

/** Creates an isolate and its context and boots the runtime in it: the part of a build that is the same for every function. */
export async function prepare(memoryLimitMiB: number, logLimits: LogLimits): Promise<Prepared> {
  const isolate = new ivm.Isolate({ memoryLimit: memoryLimitMiB });
  try {
    const context = await isolate.createContext();
    await context.global.set("globalThis", context.global.derefInto());
    const who: Tenant = { ...NOBODY };
    const booted = await bootContext(isolate, context, who, logLimits);
    return { isolate, context, booted, who };
  } catch (err) {
    if (!isolate.isDisposed) isolate.dispose();
    throw err;
  }
}

/** Throws a prepared isolate away. */
export function discard(p: Prepared): void {
  p.booted.release();
  if (!p.isolate.isDisposed) p.isolate.dispose();
}

/**
 * Builds an isolate for a function: boots the runtime (or takes `spare`, booted ahead with the same memory limit),
 * runs the user's script, and binds its function. Load errors are NEX_E_BAD_ARTIFACT. `hooks.report` gets the
 * isolate's outbox when it was filled outside a trip, `hooks.died` is called when the isolate dies on its own (a
 * memory kill).
 */
export async function buildLive(spec: WorkloadSpec, source: string, bindings: WorkloadBindings, logLimits: LogLimits, hooks: LiveHooks, spare?: Prepared): Promise<Live> {
  const state = { loading: true, running: 0 };
  const self: { live?: Live } = {};
  const gate: Gate = {
    open: () => state.loading || state.running > 0,
    report: (outbox) => {
      if (self.live) hooks.report(self.live, outbox);
    },
  };
  const p = spare ?? (await prepare(spec.memoryLimitMiB, logLimits));
  const { isolate, context, booted } = p;
  Object.assign(p.who, { spec, b: bindings, gate });
  try {
    const user = await runScript(spec, source, isolate, context);
    const list = (await booted.bind.apply(undefined, [user.derefInto(), spec.name, spec.namespace], {
      result: { reference: true },
    })) as IVM.Reference<unknown[]>;
    user.release();
    state.loading = false;
    booted.idle();
    const [single, run, ping, watch] = (await Promise.all([0, 1, 2, 3].map((i) => list.get(i, { reference: true })))) as IVM.Reference<never>[];
    list.release();
    const live: Live = { isolate, context, single: single!, run: run!, ping: ping!, booted, gate, state, results: [], trips: 0, retired: false };
    self.live = live;
    // One call that never returns: it is rejected when the isolate dies, whatever it was doing (a memory kill).
    (watch as IVM.Reference<() => unknown>).apply(undefined, [], { result: { promise: true } }).catch(() => hooks.died(live));
    return live;
  } catch (err) {
    discard(p);
    throw err;
  }
}

/** Compiles and runs the user's script (its top-level code); answers a reference to the function it ends with. */
async function runScript(spec: WorkloadSpec, source: string, isolate: IVM.Isolate, context: IVM.Context): Promise<IVM.Reference<unknown>> {
  const filename = `${spec.name}.js`;
  // Messages of load errors are left out: V8 quotes the source in them, and an artifact may be any file.
  const script = await isolate.compileScript(source, { filename }).catch((err: Error) => {
    throw new NexError("NEX_E_BAD_ARTIFACT", `the function does not compile: ${describeLoadError(err, filename)}`);
  });
  // Top-level code may loop on host calls, which the isolate's own watchdog does not interrupt.
  const started = performance.now();
  const guard = setTimeout(() => isolate.isDisposed || isolate.dispose(), spec.timeoutMs + HOST_TIMEOUT_GRACE_MS);
  const user = (await script
    .run(context, { reference: true, timeout: spec.timeoutMs })
    .catch((err: Error) => {
      // A disposed isolate was stopped by the guard above (its time was up) or by V8 (its memory limit).
      const outOfTime = performance.now() - started >= spec.timeoutMs;
      const why = !isolate.isDisposed
        ? describeLoadError(err, filename)
        : outOfTime
          ? `it ran past the ${spec.timeoutMs} ms timeout`
          : `it exceeded its ${spec.memoryLimitMiB} MiB memory limit`;
      throw new NexError("NEX_E_BAD_ARTIFACT", `the script failed while loading: ${why}`);
    })
    .finally(() => clearTimeout(guard))) as IVM.Reference<unknown>;
  if (user.typeof !== "function") {
    throw new NexError(
      "NEX_E_BAD_ARTIFACT",
      `the script's completion value is ${user.typeof}, not a function: end it with an expression like (subject, payload) => ...`,
    );
  }
  return user;
}
