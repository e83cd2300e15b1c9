/**
 * The talk's echo function run three ways with isolated-vm, for the design comparison. Each way does the same work
 * per call as the v8 engine (copy the arguments in, call, JSON-encode the result inside, copy the string out, a
 * fire-and-forget log callback for `console.log`); only what is built per call differs.
 */
import ivm from "isolated-vm";

/** What is built once, and what per call. */
export type VariantMode = "reuse" | "context" | "isolate";

const MEMORY_LIMIT_MIB = 64;
const TIMEOUT_MS = 5_000;

const CONSOLE = `globalThis.console = { log: (...a) => __log(a.map(String).join(" ")) };`;
const WRAPPER = `(() => {
  const user = globalThis.__user;
  delete globalThis.__user;
  return (subject, payload) => {
    const r = user.call(globalThis, subject, payload);
    return typeof r === "string" ? r : JSON.stringify(r);
  };
})()`;

type Invoker = ivm.Reference<(s: string, p: Uint8Array) => string>;

/** One way of running the echo function. */
export class IsolateVariant {
  private isolate: ivm.Isolate | undefined;
  private scripts: { console: ivm.Script; user: ivm.Script; wrapper: ivm.Script } | undefined;
  private invoker: Invoker | undefined;

  private constructor(
    readonly mode: VariantMode,
    private readonly source: string,
    private readonly log: (line: string) => void,
  ) {}

  /** Prepares what the mode keeps between calls. */
  static async create(mode: VariantMode, source: string, log: (line: string) => void): Promise<IsolateVariant> {
    const v = new IsolateVariant(mode, source, log);
    if (mode !== "isolate") {
      v.isolate = new ivm.Isolate({ memoryLimit: MEMORY_LIMIT_MIB });
      v.scripts = await v.compile(v.isolate);
    }
    if (mode === "reuse") v.invoker = (await v.contextIn(v.isolate!, v.scripts!)).invoker;
    return v;
  }

  private async compile(isolate: ivm.Isolate): Promise<{ console: ivm.Script; user: ivm.Script; wrapper: ivm.Script }> {
    return {
      console: await isolate.compileScript(CONSOLE),
      user: await isolate.compileScript(this.source),
      wrapper: await isolate.compileScript(WRAPPER),
    };
  }

  private async contextIn(isolate: ivm.Isolate, scripts: { console: ivm.Script; user: ivm.Script; wrapper: ivm.Script }): Promise<{ context: ivm.Context; invoker: Invoker }> {
    const context = await isolate.createContext();
    const g = context.global;
    await g.set("globalThis", g.derefInto());
    await g.set("__log", new ivm.Callback((line: string) => this.log(String(line)), { ignored: true }));
    await scripts.console.run(context);
    const user = (await scripts.user.run(context, { reference: true })) as ivm.Reference<unknown>;
    await g.set("__user", user.derefInto());
    const invoker = (await scripts.wrapper.run(context, { reference: true })) as Invoker;
    return { context, invoker };
  }

  /** Runs one call and returns the reply text. */
  async invoke(subject: string, payload: Uint8Array): Promise<string> {
    const opts = { timeout: TIMEOUT_MS, arguments: { copy: true }, result: { copy: true, promise: true } } as const;
    if (this.invoker) return (await this.invoker.apply(undefined, [subject, payload], opts)) as string;
    if (this.mode === "context") {
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
}
