/**
 * The v8 engine, inside a runner process: one isolated-vm Isolate per function, compiled once at deploy,
 * invoked many times. A timeout or a memory kill really stops the code: the isolate is thrown away and
 * rebuilt from the compiled source, and the caller gets a coded error.
 */
import v8 from "node:v8";
import type IVM from "isolated-vm";
import ivm from "./ivm.js";
import { NexError, type WorkloadSpec } from "../../contract/index.js";
import {
  DEFAULT_LOG_LIMITS,
  type EngineContext,
  type FunctionEngine,
  type Invocation,
  type InvocationResult,
  type LoadedFunction,
  type LogLimits,
  type WorkloadBindings,
} from "../engine.js";
import { bootContext, type BootedContext } from "./bindings.js";
import { describeLoadError, toScriptSource } from "./source.js";

/** Extra time the host allows past `timeoutMs` at load time, before it tears the isolate down (the isolate's own timer fires first). */
const HOST_TIMEOUT_GRACE_MS = 250;

/** Most calls into one isolate in flight at once; more invocations wait and are batched. */
const MAX_APPLIES = 4;

/** One invocation waiting for, or in, a batch. */
interface Queued {
  args: [string, Uint8Array, unknown];
  resolve(r: InvocationResult): void;
  reject(e: NexError): void;
}

/** What the isolate answers for each member of a batch. */
type BatchResult = { b: Uint8Array | string; h: Record<string, string> } | { e: { name: string; message: string; stack: string } };

interface Live {
  isolate: IVM.Isolate;
  context: IVM.Context;
  /** Runs one invocation (a lone request takes this shorter path). */
  single: IVM.Reference<(subject: string, payload: Uint8Array, meta: unknown) => Promise<unknown>>;
  /** Runs a batch of invocations. */
  many: IVM.Reference<(list: unknown[]) => Promise<unknown>>;
  booted: BootedContext;
  /** Host services and timers work only while the script loads or a call into the isolate is in flight. */
  state: { loading: boolean; calls: number };
  /** Set when a timeout threw this isolate away, so invocations it took down with it are not reported as memory kills. */
  timedOut?: boolean;
}

class V8Function implements LoadedFunction {
  private live: Live | undefined;
  private building: Promise<Live> | undefined;
  private disposed = false;
  private queue: Queued[] = [];
  private applies = 0;

  constructor(
    private readonly spec: WorkloadSpec,
    private readonly source: string,
    private readonly bindings: WorkloadBindings,
    private readonly batchSize: number,
    private readonly logLimits: LogLimits,
  ) {}

  /** Builds the isolate; used at deploy (errors become NEX_E_BAD_ARTIFACT) and after a kill. */
  async build(): Promise<Live> {
    const isolate = new ivm.Isolate({ memoryLimit: this.spec.memoryLimitMiB });
    let booted: BootedContext | undefined;
    const state = { loading: true, calls: 0 };
    try {
      const context = await isolate.createContext();
      await context.global.set("globalThis", context.global.derefInto());
      booted = await bootContext(isolate, context, this.spec, this.bindings, this.logLimits, { open: () => state.loading || state.calls > 0 });
      const filename = `${this.spec.name}.js`;
      // Messages of load errors are left out: V8 quotes the source in them, and an artifact may be any file.
      const script = await isolate.compileScript(this.source, { filename }).catch((err: Error) => {
        throw new NexError("NEX_E_BAD_ARTIFACT", `the function does not compile: ${describeLoadError(err, filename)}`);
      });
      // Top-level code may loop on host calls, which the isolate's own watchdog does not interrupt.
      const guard = setTimeout(() => isolate.isDisposed || isolate.dispose(), this.spec.timeoutMs + HOST_TIMEOUT_GRACE_MS);
      const user = (await script
        .run(context, { reference: true, timeout: this.spec.timeoutMs })
        .catch((err: Error) => {
          const why = isolate.isDisposed ? `it ran past the ${this.spec.timeoutMs} ms timeout` : describeLoadError(err, filename);
          throw new NexError("NEX_E_BAD_ARTIFACT", `the script failed while loading: ${why}`);
        })
        .finally(() => clearTimeout(guard))) as IVM.Reference<unknown>;
      if (user.typeof !== "function") {
        throw new NexError(
          "NEX_E_BAD_ARTIFACT",
          `the script's completion value is ${user.typeof}, not a function: end it with an expression like (subject, payload) => ...`,
        );
      }
      const pair = (await booted.bind.apply(undefined, [user.derefInto(), this.spec.name, this.spec.namespace], {
        result: { reference: true },
      })) as IVM.Reference<unknown[]>;
      user.release();
      state.loading = false;
      booted.idle();
      const single = (await pair.get(0, { reference: true })) as Live["single"];
      const many = (await pair.get(1, { reference: true })) as Live["many"];
      pair.release();
      return { isolate, context, single, many, booted, state };
    } catch (err) {
      booted?.release();
      if (!isolate.isDisposed) isolate.dispose();
      throw err;
    }
  }

  private async ensure(): Promise<Live> {
    if (this.live && !this.live.isolate.isDisposed) return this.live;
    if (this.disposed) throw new NexError("NEX_E_NOT_FOUND", `function ${this.spec.name} was stopped`);
    this.live = undefined;
    this.building ??= this.build().finally(() => {
      this.building = undefined;
    });
    this.live = await this.building;
    return this.live;
  }

  /** Initial build at deploy. */
  async init(): Promise<void> {
    this.live = await this.build();
  }

  /**
   * Queues one invocation. Up to MAX_APPLIES calls into the isolate are in flight at once; invocations that arrive
   * meanwhile wait and go in together as one batch. A lone request is a batch of one and waits for nothing, while
   * under load one trip to the isolate's thread serves many messages (the trip costs more than echo.js itself).
   */
  invoke(inv: Invocation): Promise<InvocationResult> {
    if (this.disposed) return Promise.reject(new NexError("NEX_E_NOT_FOUND", `function ${this.spec.name} was stopped`));
    const meta: { reply?: string; headers?: Record<string, string[]>; span?: string } = {};
    if (inv.reply) meta.reply = inv.reply;
    if (inv.headers) meta.headers = inv.headers;
    if (inv.traceparent) meta.span = inv.traceparent;
    return new Promise<InvocationResult>((resolve, reject) => {
      this.queue.push({ args: [inv.subject, inv.payload, meta], resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.applies < MAX_APPLIES && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchSize);
      this.applies++;
      void this.runBatch(batch).finally(() => {
        this.applies--;
        this.pump();
      });
    }
  }

  /** Runs one batch; settles every member, never throws. */
  private async runBatch(batch: Queued[]): Promise<void> {
    let live: Live;
    try {
      // The common case takes no extra await: the isolate is alive.
      live = this.live && !this.live.isolate.isDisposed ? this.live : await this.ensure();
    } catch (err) {
      const e = NexError.from(err, "NEX_E_FUNCTION_ERROR");
      for (const q of batch) q.reject(e);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    // No isolated-vm `timeout` here: arming its watchdog on every call costs more than echo.js itself. The host timer
    // is the one deadline; it throws the isolate away, which stops synchronous loops and never-settling promises alike.
    const opts = { arguments: { copy: true }, result: { copy: true, promise: true } } as const;
    live.state.calls++;
    const call: Promise<unknown> =
      batch.length === 1
        ? live.single.apply(undefined, batch[0]!.args, opts).then((r) => [r])
        : live.many.apply(undefined, [batch.map((q) => q.args)], opts);
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new NexError("NEX_E_FUNCTION_TIMEOUT", timeoutMessage(this.spec))), this.spec.timeoutMs);
    });
    try {
      const results = (await Promise.race([call, expired])) as BatchResult[];
      for (const [i, q] of batch.entries()) {
        const r = results[i];
        if (!r) q.reject(new NexError("NEX_E_INTERNAL", "the isolate returned no result"));
        else if ("e" in r) q.reject(this.userError(r.e));
        else {
          const body = typeof r.b === "string" ? Buffer.from(r.b) : r.b;
          q.resolve(Object.keys(r.h).length > 0 ? { body, headers: r.h } : { body });
        }
      }
    } catch (err) {
      const e = this.classify(live, err);
      for (const q of batch) q.reject(e);
    } finally {
      clearTimeout(timer);
      call.catch(() => undefined);
      // What the settled invocations left behind (timers) must not reach the host any more.
      if (--live.state.calls === 0 && !live.isolate.isDisposed) live.booted.idle();
    }
  }

  /** What the function threw, as a coded error; the stack goes to the workload's stderr log. */
  private userError(e: { name: string; message: string; stack: string }): NexError {
    // The function's own stack travels as the cause, for the runner's record of recent errors.
    const cause = e.stack ? { name: e.name, message: e.message, stack: e.stack } : undefined;
    // An uncaught host service failure keeps its own code, so callers can tell it from a bug in the function.
    if (e.name === "HostServiceError") return new NexError("NEX_E_HOST_SERVICE", e.message, { cause });
    if (e.stack) this.bindings.log("stderr", e.stack);
    return new NexError("NEX_E_FUNCTION_ERROR", `${e.name !== "Error" ? `${e.name}: ` : ""}${e.message}`, { cause });
  }

  /** Maps an isolate failure to a coded error, and throws away an isolate that can't be trusted any more. */
  private classify(live: Live, err: unknown): NexError {
    if (err instanceof NexError) {
      if (err.code === "NEX_E_FUNCTION_TIMEOUT") {
        live.timedOut = true;
        this.kill(live);
      }
      return err;
    }
    const msg = err instanceof Error ? err.message : String(err);
    if (this.disposed) return new NexError("NEX_E_NOT_FOUND", `function ${this.spec.name} was stopped`);
    if (live.timedOut) {
      return new NexError("NEX_E_FUNCTION_TIMEOUT", `function ${this.spec.name} was stopped: another invocation ran past its ${this.spec.timeoutMs} ms timeout`);
    }
    if (live.isolate.isDisposed || /memory limit/i.test(msg)) {
      this.kill(live);
      return new NexError("NEX_E_FUNCTION_MEMORY", `function ${this.spec.name} exceeded its ${this.spec.memoryLimitMiB} MiB memory limit and was stopped`);
    }
    return new NexError("NEX_E_FUNCTION_ERROR", msg);
  }

  private kill(live: Live): void {
    if (this.live === live) this.live = undefined;
    live.booted.release();
    if (!live.isolate.isDisposed) live.isolate.dispose();
  }

  dispose(): void {
    this.disposed = true;
    const stopped = new NexError("NEX_E_NOT_FOUND", `function ${this.spec.name} was stopped`);
    for (const q of this.queue.splice(0)) q.reject(stopped);
    if (this.live) this.kill(this.live);
  }
}

function timeoutMessage(spec: WorkloadSpec): string {
  return `function ${spec.name} ran past its ${spec.timeoutMs} ms timeout and was stopped`;
}

/**
 * isolated-vm's memory limit does not count WebAssembly memories, nor resizable and growable array buffers: a 64 MiB
 * isolate grew its runner to 4 GB through them. Functions get neither. Flags apply to contexts created after they
 * are set, so the runner's own context (Node's fetch needs WebAssembly) keeps them; only v8 runners load this file.
 */
function withoutUncountedMemory(): void {
  v8.setFlagsFromString("--no-expose-wasm");
  v8.setFlagsFromString("--no-harmony-rab-gsab");
}

/** Creates the v8 engine for a runner. */
export async function createV8Engine(ctx: EngineContext): Promise<FunctionEngine> {
  withoutUncountedMemory();
  const logLimits = ctx.logLimits ?? DEFAULT_LOG_LIMITS;
  const loaded = new Set<V8Function>();
  return {
    async load(spec: WorkloadSpec, code: Uint8Array, bindings: WorkloadBindings): Promise<LoadedFunction> {
      const source = await toScriptSource(new TextDecoder().decode(code), spec.name);
      const fn = new V8Function(spec, source, bindings, Math.max(1, ctx.batchSize), logLimits);
      await fn.init();
      loaded.add(fn);
      return {
        invoke: (inv) => fn.invoke(inv),
        dispose: () => {
          loaded.delete(fn);
          fn.dispose();
        },
      };
    },
    async close() {
      for (const fn of loaded) fn.dispose();
      loaded.clear();
    },
  };
}
