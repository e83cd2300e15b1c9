/**
 * The talk's echo function run three ways with isolated-vm, for the design comparison. Each way does the same work
 * per call as the v8 engine (copy the arguments in, call, JSON-encode the result inside, copy the string out, a
 * fire-and-forget log callback for `console.log`); only what is built per call differs.
 */
import type { Context, Isolate, Reference, Script } from "isolated-vm";
import ivm from "../../src/runtimes/v8/ivm.js";

/** What is built once, and what per call. */
export type VariantMode = "reuse" | "context" | "isolate";

/** Knobs for pricing single steps of the reused path (bench/profile/ablation.ts). */
export interface VariantKnobs {
  /** Pass isolated-vm's `timeout` option on every call, as the engine does (default true). */
  ivmTimeout?: boolean;
  /** Make console.log a no-op instead of a host callback that publishes the line. */
  quiet?: boolean;
  /** Reused path only: messages that arrive while a call runs go into the isolate together, in one call. */
  batch?: boolean;
}

/** The most messages one batched call carries. */
const MAX_BATCH = 256;

const MEMORY_LIMIT_MIB = 64;
/**
 * Contexts released after each call are only freed when the isolate collects them, so under 50 concurrent callers
 * a 64 MiB isolate fills up and is killed; the fresh-context variant gets more room, and a new isolate when that
 * happens anyway (as the engine rebuilds one after a memory kill).
 */
const CONTEXT_MODE_MEMORY_LIMIT_MIB = 512;
const TIMEOUT_MS = 5_000;

const CONSOLE = `globalThis.console = { log: (...a) => __log(a.map(String).join(" ")) };`;
const QUIET_CONSOLE = `globalThis.console = { log: () => {} };`;
const WRAPPER = `(() => {
  const user = globalThis.__user;
  delete globalThis.__user;
  const one = (subject, payload) => {
    const r = user.call(globalThis, subject, payload);
    return typeof r === "string" ? r : JSON.stringify(r);
  };
  globalThis.__many = (list) => list.map(([s, p]) => { try { return one(s, p); } catch (e) { return "error: " + e; } });
  return one;
})()`;

type Invoker = Reference<(s: string, p: Uint8Array) => string>;
type ManyInvoker = Reference<(list: [string, Uint8Array][]) => string[]>;
type Queued = { subject: string; payload: Uint8Array; resolve: (s: string) => void; reject: (e: unknown) => void };

/** One way of running the echo function. */
export class IsolateVariant {
  private isolate: Isolate | undefined;
  private scripts: { console: Script; user: Script; wrapper: Script } | undefined;
  private invoker: Invoker | undefined;
  private many: ManyInvoker | undefined;
  private queue: Queued[] = [];
  private pumping = false;
  private rebuilding: Promise<void> | undefined;

  private constructor(
    readonly mode: VariantMode,
    private readonly source: string,
    private readonly log: (line: string) => void,
    private readonly knobs: VariantKnobs,
  ) {}

  /** Prepares what the mode keeps between calls. */
  static async create(mode: VariantMode, source: string, log: (line: string) => void, knobs: VariantKnobs = {}): Promise<IsolateVariant> {
    const v = new IsolateVariant(mode, source, log, knobs);
    if (mode !== "isolate") await v.rebuild();
    if (mode === "reuse") {
      const { context, invoker } = await v.contextIn(v.isolate!, v.scripts!);
      v.invoker = invoker;
      if (knobs.batch) v.many = (await context.global.get("__many", { reference: true })) as ManyInvoker;
    }
    return v;
  }

  private async rebuild(): Promise<void> {
    this.isolate = new ivm.Isolate({ memoryLimit: this.mode === "context" ? CONTEXT_MODE_MEMORY_LIMIT_MIB : MEMORY_LIMIT_MIB });
    this.scripts = await this.compile(this.isolate);
  }

  private async compile(isolate: Isolate): Promise<{ console: Script; user: Script; wrapper: Script }> {
    return {
      console: await isolate.compileScript(this.knobs.quiet ? QUIET_CONSOLE : CONSOLE),
      user: await isolate.compileScript(this.source),
      wrapper: await isolate.compileScript(WRAPPER),
    };
  }

  private async contextIn(isolate: Isolate, scripts: { console: Script; user: Script; wrapper: Script }): Promise<{ context: Context; invoker: Invoker }> {
    const context = await isolate.createContext();
    const g = context.global;
    await g.set("globalThis", g.derefInto());
    await g.set("__log", new ivm.Callback((line: string) => this.log(String(line)), { ignored: true }));
    await scripts.console.run(context);
    const user = (await scripts.user.run(context, { reference: true })) as Reference<unknown>;
    await g.set("__user", user.derefInto());
    const invoker = (await scripts.wrapper.run(context, { reference: true })) as Invoker;
    return { context, invoker };
  }

  /** Runs one call and returns the reply text. */
  async invoke(subject: string, payload: Uint8Array): Promise<string> {
    const timeout = this.knobs.ivmTimeout === false ? undefined : TIMEOUT_MS;
    const opts = { timeout, arguments: { copy: true }, result: { copy: true, promise: true } } as const;
    if (this.many) {
      return new Promise<string>((resolve, reject) => {
        this.queue.push({ subject, payload, resolve, reject });
        if (!this.pumping) void this.pump(timeout);
      });
    }
    if (this.invoker) return (await this.invoker.apply(undefined, [subject, payload], opts)) as string;
    if (this.mode === "context") {
      if (this.isolate!.isDisposed) {
        this.rebuilding ??= this.rebuild().finally(() => (this.rebuilding = undefined));
        await this.rebuilding;
      }
      const { context, invoker } = await this.contextIn(this.isolate!, this.scripts!);
      try {
        return (await invoker.apply(undefined, [subject, payload], opts)) as string;
      } finally {
        context.release();
      }
    }
    const isolate = new ivm.Isolate({ memoryLimit: MEMORY_LIMIT_MIB });
    try {
      const { invoker } = await this.contextIn(isolate, await this.compile(isolate));
      return (await invoker.apply(undefined, [subject, payload], opts)) as string;
    } finally {
      isolate.dispose();
    }
  }

  /** Sends whatever is queued into the isolate in one call, until the queue is empty. */
  private async pump(timeout: number | undefined): Promise<void> {
    const opts = { timeout, arguments: { copy: true }, result: { copy: true, promise: true } } as const;
    this.pumping = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      try {
        const out = (await this.many!.apply(undefined, [batch.map((b): [string, Uint8Array] => [b.subject, b.payload])], opts)) as string[];
        batch.forEach((b, i) => b.resolve(out[i] ?? ""));
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.pumping = false;
  }
}
