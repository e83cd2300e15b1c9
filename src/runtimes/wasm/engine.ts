/**
 * The wasm engine: WASI preview1 command modules. A module is checked, memory-capped and compiled once at deploy;
 * every invocation gets a fresh instance on a worker thread, with argv = [name, subject], stdin = payload, and
 * everything written to stdout, in order, as the reply. Host services come in through the `nex` imports.
 *
 * ```ts
 * const engine = await createWasmEngine(ctx);
 * const fn = await engine.load(spec, wasmBytes, { services: new MemoryHostServices(), log: console.log });
 * const { body } = await fn.invoke({ subject: "echowasm", payload: new TextEncoder().encode("hello nex!") });
 * ```
 */
import { NexError, WORKLOAD_TYPES, type WorkloadSpec } from "../../contract/index.js";
import {
  DEFAULT_LOG_LIMITS,
  type EngineContext,
  type FunctionEngine,
  type Invocation,
  type InvocationResult,
  type LoadedFunction,
  type WorkloadBindings,
  servicesFor,
} from "../engine.js";
import { hostCall } from "./hostcalls.js";
import { capMemory, type MemoryLimits } from "./limits.js";
import { checkImportsAndExports } from "./validate.js";
import { WorkerPool, type JobOutcome, type PoolOptions } from "./pool.js";
import type { RunResult } from "./protocol.js";
import { wasm, type WasmModule } from "./wasm-api.js";

/** Engine settings beyond the runner's context (tests use them to size the pool). */
export interface WasmEngineOptions {
  pool?: PoolOptions;
  /** Largest reply a module may write; default: the server's max_payload. */
  maxReplyBytes?: number;
}

/** A counting semaphore: `take()` a free slot at once, or `wait()` for one that `give()` hands over. */
class Slots {
  private used = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly size: number) {}

  take(): boolean {
    if (this.used >= this.size) return false;
    this.used++;
    return true;
  }

  /** Resolves holding a slot (handed over by `give`, so no one can take it in between). */
  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  give(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.used--;
  }

  /** Wakes every waiter (each then finds its function stopped and gives its slot back). */
  wakeAll(): void {
    for (const w of this.waiters.splice(0)) {
      this.used++;
      w();
    }
  }
}

/** Makes module keys unique per load: a redeploy under the same id must never run a worker's cached older module. */
let loads = 0;

/** Compiles and checks a module for `spec`; throws NEX_E_BAD_ARTIFACT with the reason when it cannot run. */
async function compileFunction(spec: WorkloadSpec, code: Uint8Array): Promise<{ module: WasmModule; memory: MemoryLimits }> {
  const capped = capMemory(code, spec.memoryLimitMiB);
  let mod: WasmModule;
  try {
    mod = await wasm.compile(capped.bytes);
  } catch (err) {
    // V8's message quotes bytes of the module ("found 53 55 41 4d"): only the offset is repeated.
    const at = /@\+(\d+)/.exec((err as Error).message)?.[1];
    throw new NexError("NEX_E_BAD_ARTIFACT", `the module does not compile${at ? ` (V8 stopped at byte ${at})` : ""}; check it with wasm-validate`);
  }
  checkImportsAndExports(mod);
  return { module: mod, memory: { minPages: capped.minPages, maxPages: capped.maxPages } };
}

/** Turns how a run ended into a reply or a coded error. */
function outcomeToResult(spec: WorkloadSpec, o: JobOutcome): InvocationResult {
  if (o.kind === "timeout") {
    throw new NexError("NEX_E_FUNCTION_TIMEOUT", `function ${spec.name} ran past its ${spec.timeoutMs} ms timeout and was stopped`);
  }
  if (o.kind === "crashed") {
    if (o.oom) throw memoryError(spec);
    throw new NexError("NEX_E_FUNCTION_ERROR", `function ${spec.name} was stopped: ${o.reason}`);
  }
  const r = o.result;
  if (r.outputTooLarge) {
    throw new NexError("NEX_E_FUNCTION_ERROR", `function ${spec.name} wrote a reply larger than the server's limit for one message`);
  }
  if (r.exitCode === 0) return { body: r.stdout };
  if (hitMemoryCap(spec, r)) throw memoryError(spec, r.stderrTail);
  const how = r.trap !== undefined ? `trapped (${r.trap})` : `exited with code ${r.exitCode}`;
  const tail = r.stderrTail ? `; stderr: ${r.stderrTail}` : "";
  throw new NexError("NEX_E_FUNCTION_EXIT", `function ${spec.name} ${how}${tail}`);
}

/**
 * A failed run is blamed on the memory cap when the module stopped close to the cap (its next growth was refused),
 * or said so itself. The engine cannot see a refused `memory.grow` directly, so this is a judgement, documented.
 */
function hitMemoryCap(spec: WorkloadSpec, r: RunResult): boolean {
  const cap = spec.memoryLimitMiB * 1_048_576;
  const margin = Math.max(2 * 1_048_576, cap / 8);
  if (r.memoryBytes >= cap - margin) return true;
  return /memory allocation of \d+ bytes failed|out of memory/i.test(r.stderrTail);
}

function memoryError(spec: WorkloadSpec, tail = ""): NexError {
  const why = tail ? `; stderr: ${tail}` : "";
  return new NexError("NEX_E_FUNCTION_MEMORY", `function ${spec.name} exceeded its ${spec.memoryLimitMiB} MiB memory limit and was stopped${why}`);
}

/** The module's environment for one invocation: the deploy's, plus what a durable or scheduled run carries. */
function invocationEnv(env: string[], inv: Invocation): string[] {
  if (inv.deliveryCount === undefined && inv.messageId === undefined && inv.scheduledAt === undefined) return env;
  const out = [...env];
  if (inv.deliveryCount !== undefined) out.push(`NEX_DELIVERY_COUNT=${inv.deliveryCount}`);
  if (inv.messageId !== undefined) out.push(`NEX_MESSAGE_ID=${inv.messageId}`);
  if (inv.scheduledAt !== undefined) out.push(`NEX_SCHEDULED_AT=${inv.scheduledAt}`);
  return out;
}

/** Creates the wasm engine for a runner. */
export async function createWasmEngine(ctx: EngineContext, opts: WasmEngineOptions = {}): Promise<FunctionEngine> {
  let pool: WorkerPool | undefined;
  const keys = new Set<string>();
  const maxReplyBytes = opts.maxReplyBytes ?? ctx.maxReplyBytes;
  const limits = ctx.logLimits ?? DEFAULT_LOG_LIMITS;
  const log = { lines: limits.linesPerInvocation, lineChars: limits.lineBytes };
  return {
    async load(spec: WorkloadSpec, code: Uint8Array, bindings: WorkloadBindings): Promise<LoadedFunction> {
      const { module: mod, memory } = await compileFunction(spec, code);
      // Workers start with the first function, not with the runner: a runner that never gets wasm costs nothing.
      pool ??= new WorkerPool({ ...opts.pool });
      const p = pool;
      // Bounded: a worker that cannot start shows up as a failed invocation, not as a deploy that hangs.
      await Promise.race([p.whenReady(1), new Promise((r) => setTimeout(r, 10_000).unref())]);
      const key = `${spec.id}#${++loads}`;
      keys.add(key);
      const env = Object.entries(spec.env).map(([k, v]) => `${k}=${v}`);
      let disposed = false;
      // One invocation per worker thread; maxConcurrency bounds how many workers this function holds at once.
      const slots = new Slots(Math.max(1, spec.maxConcurrency || WORKLOAD_TYPES.wasm.defaultMaxConcurrency));
      const stopped = (): NexError => new NexError("NEX_E_NOT_FOUND", `function ${spec.name} was stopped`);
      const run = async (inv: Invocation): Promise<InvocationResult> => {
        // Each run belongs to one invocation, so its host calls are that invocation's.
        const services = servicesFor(bindings, inv.traceparent);
        const outcome = await p.run({
          key,
          module: mod,
          memory,
          args: [spec.name, inv.subject],
          env: invocationEnv(env, inv),
          stdin: inv.payload,
          maxOutputBytes: maxReplyBytes,
          log,
          timeoutMs: spec.timeoutMs,
          onStderr: (line) => bindings.log("stderr", line),
          hostCall: (req) => hostCall(services, req),
        });
        if (outcome.kind === "done" && outcome.result.stderrDropped > 0) bindings.logDropped?.(outcome.result.stderrDropped);
        return outcomeToResult(spec, outcome);
      };
      return {
        async invoke(inv: Invocation): Promise<InvocationResult> {
          if (disposed) throw stopped();
          if (!slots.take()) await slots.wait();
          try {
            if (disposed) throw stopped();
            return await run(inv);
          } finally {
            slots.give();
          }
        },
        dispose() {
          disposed = true;
          keys.delete(key);
          p.drop(key);
          slots.wakeAll();
        },
      };
    },
    async close() {
      keys.clear();
      await pool?.close();
    },
  };
}
