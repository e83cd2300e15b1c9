/**
 * The v8 engine, inside a runner process: one isolated-vm Isolate per function, compiled once at deploy,
 * invoked many times, up to `maxConcurrency` invocations at once: while one waits on an async host call, others
 * run. Everything crosses between the host and the isolate in trips: new invocations and the results of async host
 * calls go in together, answers and new host calls come back together, so under load one trip each way serves many
 * invocations. A timeout or a memory kill really stops the code: the isolate is thrown away and rebuilt from the
 * compiled source, and the caller gets a coded error.
 *
 * Idle eviction: a function that ran nothing for `idleEvictMs` loses its isolate (about 1.2 MiB of RSS) and keeps
 * its compiled source. The next invocation wakes it through the same path a kill takes: the isolate is rebuilt
 * (runtime, top-level code) once, and whatever arrives meanwhile waits in line for it. Module-level state does not
 * survive. One sweep per engine checks every function, so an invocation pays nothing for it.
 */
import v8 from "node:v8";
import { NexError, WORKLOAD_TYPES, type WorkloadSpec } from "../../contract/index.js";
import {
  DEFAULT_LOG_LIMITS,
  type EngineContext,
  type FunctionEngine,
  type Invocation,
  type InvocationResult,
  type LoadedFunction,
  type LogLimits,
  type WorkloadBindings,
  servicesFor,
} from "../engine.js";
import { copyable, hostCall } from "./bindings.js";
import { buildLive, discard, prepare, type Live, type Prepared } from "./isolate.js";
import { toScriptSource } from "./source.js";

/**
 * Most trips into one isolate in flight at once: one it runs and one waiting behind it, so the isolate does not sit
 * idle while the host unloads a trip and prepares the next. What arrives meanwhile waits and goes in together.
 */
const MAX_TRIPS = 2;

/** How long an isolate whose invocation timed out has to answer a ping before it is judged stuck and stopped. */
const STUCK_AFTER_MS = 250;

/** How every trip into an isolate is made: arguments copied in, the outcome (or its promise) copied out. */
const TRIP = { arguments: { copy: true }, result: { copy: true, promise: true } } as const;

const NONE: readonly never[] = [];

/**
 * Most evicted functions of one engine rebuilt at once. A message to each of thousands of idle functions would
 * otherwise build thousands of isolates together (each about 1.2 MiB, the runner's cores shared among them); the rest
 * wait their turn, and the function timeout of their invocations starts once their isolate is ready.
 */
const WAKES_AT_ONCE = 4;

/** Where a wake gets an isolate booted ahead of time (see `spares`), or undefined to boot its own. */
type Spares = (memoryLimitMiB: number) => Promise<Prepared | undefined>;

/** How long after a wake the next spare is booted: not while the woken function runs its first invocation. */
const SPARE_DELAY_MS = 5;

/**
 * One isolate kept booted for the next wake, so that a wake only runs the function's own script: the runtime's boot
 * (isolate, context, console and web APIs) is most of a build. The next spare is booted shortly after one is taken
 * (a wake that finds none boots its own, as before); a wake with another memory limit boots its own, and the spare
 * follows that limit from then on. Deploys take it too. None is made before the first deploy or wake.
 */
function spares(logLimits: LogLimits): { take: Spares; close(): void } {
  let spare: { limit: number; ready: Promise<Prepared | undefined> } | undefined;
  let pending: NodeJS.Timeout | undefined;
  let closed = false;
  const refill = (limit: number): void => {
    pending = undefined;
    if (!closed && !spare) spare = { limit, ready: prepare(limit, logLimits).catch(() => undefined) };
  };
  return {
    take: async (limit) => {
      if (closed) return undefined;
      const s = spare;
      spare = undefined;
      clearTimeout(pending);
      pending = setTimeout(refill, SPARE_DELAY_MS, limit);
      if (s?.limit === limit) return s.ready;
      if (s) void s.ready.then((p) => p && discard(p));
      return undefined;
    },
    close: () => {
      closed = true;
      clearTimeout(pending);
      if (spare) void spare.ready.then((p) => p && discard(p));
      spare = undefined;
    },
  };
}

/** Runs at most `n` of the tasks given to it at once, the others in the order they came. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** What the isolate answers for one invocation (see INVOKER). */
type Answer = { b: Uint8Array | string; h?: Record<string, string> } | { e: { name: string; message: string; stack: string } };

/** One invocation: waiting in line, then admitted (running) until it settles. */
interface Queued {
  readonly id: number;
  readonly args: [string, Uint8Array, unknown, number];
  resolve(r: InvocationResult): void;
  reject(e: NexError): void;
  /** `performance.now()` past which it has timed out; set when it is admitted. */
  deadline: number;
  /** The isolate it runs in, once it has been sent into one. */
  live: Live | undefined;
}

class V8Function implements LoadedFunction {
  private live: Live | undefined;
  private building: Promise<Live> | undefined;
  private disposed = false;
  /** Waiting for a free slot, in arrival order. */
  private queue: Queued[] = [];
  /**
   * Admitted and not settled, by id; insertion order is deadline order (every invocation has the same timeout; one
   * waiting for its isolate to be built has none until it is, and nothing admitted after it is in an isolate before).
   */
  private readonly running = new Map<number, Queued>();
  /** Isolates that take no new invocations and go once their last one settles. */
  private readonly retired = new Set<Live>();
  /** Trips waiting for an isolate being built. */
  private waiting = 0;
  private nextId = 0;
  /** The one deadline timer: armed for the oldest running invocation. */
  private timer: NodeJS.Timeout | undefined;
  /** Set while a pump is due at the end of this turn of the event loop (host-call results come in bursts). */
  private due: NodeJS.Immediate | undefined;
  /** Idle eviction: `nextId` at the last sweep, and since when (`performance.now()`) nothing was seen to run. */
  private seenId = 0;
  private quietSince = performance.now();
  /** True from an eviction until the next isolate is built. */
  private evicted = false;
  /** Isolates thrown away for being idle, and rebuilt for an invocation after that. */
  evictions = 0;
  wakes = 0;

  constructor(
    private readonly spec: WorkloadSpec,
    private readonly source: string,
    private readonly bindings: WorkloadBindings,
    private readonly batchSize: number,
    private readonly maxConcurrency: number,
    private readonly logLimits: LogLimits,
    /** The engine's line for wakes (see WAKES_AT_ONCE). */
    private readonly inTurn: <T>(task: () => Promise<T>) => Promise<T>,
    private readonly spare: Spares,
  ) {}

  /** Builds the isolate; used at deploy (errors become NEX_E_BAD_ARTIFACT) and after a kill. */
  build(spare?: Prepared): Promise<Live> {
    const hooks = {
      report: (live: Live, outbox: unknown) => {
        this.unload(live, outbox);
        this.pump();
      },
      died: (live: Live) => this.died(live),
    };
    return buildLive(this.spec, this.source, this.bindings, this.logLimits, hooks, spare);
  }

  private async ensure(): Promise<Live> {
    if (this.live && !this.live.isolate.isDisposed) return this.live;
    if (this.disposed) throw this.stopped();
    this.live = undefined;
    this.building ??= this.wake().finally(() => {
      this.building = undefined;
    });
    const live = await this.building;
    if (this.disposed) {
      // Stopped while it was being built.
      this.kill(live, this.stopped());
      throw this.stopped();
    }
    this.live = live;
    return live;
  }

  /** Builds the isolate again, after a kill or an eviction; a failed wake leaves the function evicted, for the next try. */
  private async wake(): Promise<Live> {
    if (!this.evicted) return this.build();
    try {
      const live = await this.inTurn(async () => this.build(await this.spare(this.spec.memoryLimitMiB)));
      this.evicted = false;
      this.wakes++;
      return live;
    } catch (err) {
      const e = NexError.from(err, "NEX_E_DEPLOY_FAILED");
      const code = /memory limit/i.test(e.message) ? "NEX_E_FUNCTION_MEMORY" : e.code;
      throw new NexError(code, `function ${this.spec.name} was idle and could not be started again: ${e.message}`);
    }
  }

  /** Initial build at deploy. */
  /** Builds the first isolate, from the runner's spare when one is booted: a deploy then runs only the user's script. */
  async init(): Promise<void> {
    this.live = await this.build(await this.spare(this.spec.memoryLimitMiB));
  }

  /** True while the function holds no isolate because it was idle. */
  get idle(): boolean {
    return this.evicted;
  }

  /**
   * Called by the engine's sweep: disposes the isolate once nothing has run, waited or loaded for `idleMs`. Any
   * invocation seen since the last sweep (`nextId` moved) or still pending starts the quiet time again.
   */
  sweep(now: number, idleMs: number): void {
    const live = this.live;
    const busy = this.nextId !== this.seenId || this.running.size > 0 || this.queue.length > 0 || this.waiting > 0 || this.building !== undefined || this.retired.size > 0;
    if (busy || !live || live.trips > 0 || live.state.loading) {
      this.seenId = this.nextId;
      this.quietSince = now;
      return;
    }
    if (this.disposed || now - this.quietSince < idleMs) return;
    this.evicted = true;
    this.evictions++;
    this.kill(live, this.stopped());
  }

  /**
   * Queues one invocation. At most `maxConcurrency` run at once; the rest wait in line. Up to MAX_TRIPS trips into
   * the isolate are in flight, and what arrives meanwhile (new invocations, results of async host calls) goes in
   * together with the next one: under load one trip serves many messages (a trip costs more than echo.js itself),
   * and a lone request is a trip of its own.
   */
  invoke(inv: Invocation): Promise<InvocationResult> {
    if (this.disposed) return Promise.reject(this.stopped());
    const meta: { reply?: string; headers?: Record<string, string[]>; span?: string; dc?: number; mid?: string; at?: string } = {};
    if (inv.reply) meta.reply = inv.reply;
    if (inv.headers) meta.headers = inv.headers;
    if (inv.traceparent) meta.span = inv.traceparent;
    if (inv.deliveryCount !== undefined) meta.dc = inv.deliveryCount;
    if (inv.messageId !== undefined) meta.mid = inv.messageId;
    if (inv.scheduledAt !== undefined) meta.at = inv.scheduledAt;
    // A message's data is a view into the connection's read buffer; copying the view would copy all of that buffer.
    const p = inv.payload;
    const payload = p.byteOffset === 0 && p.byteLength === p.buffer.byteLength ? p : p.slice();
    return new Promise<InvocationResult>((resolve, reject) => {
      const id = ++this.nextId;
      this.queue.push({ id, args: [inv.subject, payload, meta, id], resolve, reject, deadline: 0, live: undefined });
      this.kick();
    });
  }

  /**
   * New work arrived: an idle isolate gets it now (a lone request waits for nothing); one that is busy gets it, with
   * whatever else arrives in this turn of the event loop, at the end of the turn (or when its trip lands).
   */
  private kick(): void {
    const live = this.live;
    if (!live || live.trips === 0) this.pump();
    else this.due ??= setImmediate(this.pumpDue);
  }

  /** Sends what waits: results to every isolate that has some, new invocations to the current one. */
  private pump(): void {
    if (this.retired.size > 0) for (const r of this.retired) this.pumpInto(r, false);
    const live = this.live;
    if (live && !live.isolate.isDisposed) this.pumpInto(live, true);
    else if (this.canAdmit() && this.waiting < MAX_TRIPS) this.sendWhenBuilt(this.take());
  }

  private pumpInto(live: Live, admit: boolean): void {
    while (live.trips < MAX_TRIPS && !live.killed) {
      const starts = admit && this.canAdmit();
      if (!starts && live.results.length === 0) return;
      this.send(live, starts ? this.take() : NONE);
    }
  }

  private canAdmit(): boolean {
    return this.queue.length > 0 && this.running.size < this.maxConcurrency;
  }

  /** Takes the next batch off the line and counts it as running, each member with its own deadline. */
  private take(): Queued[] {
    const room = Math.min(this.batchSize, this.maxConcurrency - this.running.size);
    const batch = this.queue.length <= room ? this.queue.splice(0) : this.queue.splice(0, room);
    const deadline = performance.now() + this.spec.timeoutMs;
    for (const q of batch) {
      q.deadline = deadline;
      this.running.set(q.id, q);
    }
    this.timer ??= setTimeout(this.expire, this.spec.timeoutMs);
    return batch;
  }

  /** One trip into the isolate: `batch` to start, and every result waiting for it. */
  private send(live: Live, batch: readonly Queued[]): void {
    live.trips++;
    live.state.running += batch.length;
    for (const q of batch) q.live = live;
    const results = live.results;
    if (results.length > 0) live.results = [];
    const trip: Promise<unknown> =
      batch.length === 1 && results.length === 0
        ? live.single.apply(undefined, batch[0]!.args, TRIP)
        : live.run.apply(undefined, [batch.map((q) => q.args), results], TRIP);
    trip.then(
      (outcome) => this.landed(live, batch, outcome),
      (err: unknown) => this.failed(live, batch, err),
    );
  }

  /** The isolate is being (re)built: the batch goes in once it is ready, if its members have not timed out meanwhile. */
  private sendWhenBuilt(batch: Queued[]): void {
    this.waiting++;
    // No deadline while the isolate is built (see WAKES_AT_ONCE); the build bounds its own time.
    for (const q of batch) q.deadline = Infinity;
    this.ensure().then(
      (live) => {
        this.waiting--;
        const alive = batch.filter((q) => this.running.has(q.id));
        // Their time starts now: a wake may have waited its turn. Later in `running` than anything already in an isolate, so still in deadline order.
        const deadline = performance.now() + this.spec.timeoutMs;
        for (const q of alive) q.deadline = deadline;
        this.timer ??= setTimeout(this.expire, this.spec.timeoutMs);
        if (alive.length > 0) this.send(live, alive);
        this.pump();
      },
      (err: unknown) => {
        this.waiting--;
        const e = NexError.from(err, "NEX_E_FUNCTION_ERROR");
        for (const q of batch) if (this.running.delete(q.id)) q.reject(e);
        // What waited for this build gets its error too, rather than one more build each; later arrivals try again.
        for (const q of this.queue.splice(0)) q.reject(e);
        this.pump();
      },
    );
  }

  private landed(live: Live, batch: readonly Queued[], outcome: unknown): void {
    live.trips--;
    if (Array.isArray(outcome)) this.unload(live, outcome);
    else this.settle(batch[0]!, outcome as Answer);
    this.pump();
  }

  /**
   * Takes an outbox `[answers, calls]`. The calls are let through (or not) now, while the invocations that made them
   * still count as running, and sent one microtask later: after the answers' replies, so that the replies and the
   * requests of one trip go out in one write to the socket.
   */
  private unload(live: Live, outbox: unknown): void {
    if (!Array.isArray(outbox) || live.killed) return;
    const [answers, calls] = outbox as [unknown[], unknown[]];
    if (calls.length > 0) {
      const open = live.gate.open();
      queueMicrotask(() => this.calls(live, calls, open));
    }
    for (let i = 0; i + 1 < answers.length; i += 2) {
      const q = this.running.get(answers[i] as number);
      if (q !== undefined && q.live === live) this.settle(q, answers[i + 1] as Answer);
    }
  }

  /**
   * Async host calls, `[callId, op, args, text, span, …]` (`span`: the traceparent of the invocation the isolate
   * attributes the call to, when it can tell); each result waits for the next trip into the isolate that made it.
   */
  private calls(live: Live, calls: unknown[], open: boolean): void {
    if (live.killed) return;
    for (let i = 0; i + 4 < calls.length; i += 5) {
      const id = calls[i] as number;
      const op = calls[i + 1] as string;
      const text = calls[i + 3];
      const span = calls[i + 4];
      hostCall(servicesFor(this.bindings, typeof span === "string" ? span : undefined), open, op, calls[i + 2]).then(
        (r) => this.result(live, id, true, copyable(op, text, r)),
        (err: unknown) => this.result(live, id, false, err instanceof Error ? err.message : String(err)),
      );
    }
  }

  private result(live: Live, id: number, ok: boolean, value: unknown): void {
    if (live.killed) return;
    live.results.push(id, ok, value);
    // Results of one burst of replies (a read from the socket) go in together, at the end of this turn.
    this.due ??= setImmediate(this.pumpDue);
  }

  private readonly pumpDue = (): void => {
    this.due = undefined;
    this.pump();
  };

  /** Settles one running invocation with the isolate's answer (unless it timed out or was stopped meanwhile). */
  private settle(q: Queued, a: Answer | undefined): void {
    if (!this.running.delete(q.id)) return;
    const live = q.live!;
    if (--live.state.running === 0) this.quiet(live);
    if (!a) q.reject(new NexError("NEX_E_INTERNAL", "the isolate returned no result"));
    else if ("e" in a) q.reject(this.userError(a.e));
    else {
      const body = typeof a.b === "string" ? Buffer.from(a.b) : a.b;
      q.resolve(a.h !== undefined && hasKeys(a.h) ? { body, headers: a.h } : { body });
    }
  }

  /** No invocation runs in `live` any more: what they left behind (timers) must not reach the host. */
  private quiet(live: Live): void {
    if (live.retired) this.kill(live, this.stopped());
    else if (!live.isolate.isDisposed) live.booted.idle();
  }

  /** A trip failed as a whole: the isolate died, or was stopped. */
  private failed(live: Live, batch: readonly Queued[], err: unknown): void {
    live.trips--;
    const e = this.classify(live, err);
    for (const q of batch) {
      if (!this.running.delete(q.id)) continue;
      q.reject(e);
      if (--live.state.running === 0) this.quiet(live);
    }
    this.pump();
  }

  /** The one deadline timer: times out every running invocation past its deadline, then waits for the next one. */
  private readonly expire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    for (const q of this.running.values()) {
      if (q.deadline > now) {
        // Waiting for its isolate to be built: the timer is armed again once it is.
        if (q.deadline !== Infinity) this.timer = setTimeout(this.expire, q.deadline - now);
        return;
      }
      this.timedOut(q);
    }
  };

  /**
   * An invocation ran past its timeout: its caller is answered now. Alone in its isolate, it is stopped with the
   * isolate, as before. With others running there, the isolate is retired: new invocations go to a fresh one, the
   * others go on (each within its own deadline), and the old isolate goes when the last of them settles. Unless it is
   * stuck (a loop that never yields, a synchronous host call that still waits): when it does not answer a ping within
   * STUCK_AFTER_MS, or another deadline passes before it does, it goes at once, and the others with it.
   */
  private timedOut(q: Queued): void {
    const live = q.live;
    if (live?.suspect) {
      this.kill(live, live.suspect);
      return;
    }
    this.running.delete(q.id);
    q.reject(new NexError("NEX_E_FUNCTION_TIMEOUT", `function ${this.spec.name} ran past its ${this.spec.timeoutMs} ms timeout and was stopped`));
    if (!live) return;
    if (--live.state.running === 0) this.kill(live, this.stopped());
    else this.retire(live);
  }

  private retire(live: Live): void {
    if (live.retired) return;
    live.retired = true;
    if (this.live === live) this.live = undefined;
    this.retired.add(live);
    const why = new NexError("NEX_E_FUNCTION_TIMEOUT", `function ${this.spec.name} was stopped: another invocation ran past its ${this.spec.timeoutMs} ms timeout`);
    live.suspect = why;
    const stuck = setTimeout(() => this.kill(live, why), STUCK_AFTER_MS);
    const answered = (): void => {
      clearTimeout(stuck);
      live.suspect = undefined;
    };
    live.ping.apply(undefined, []).then(answered, answered);
    // Whatever waits goes to a fresh isolate (not from here: this runs while the deadline timer walks `running`).
    this.due ??= setImmediate(this.pumpDue);
  }

  /** The isolate died on its own (its watch call was rejected): a memory kill, whatever it was running. */
  private died(live: Live): void {
    if (!live.killed) this.kill(live, this.memoryError());
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

  /** Maps a failed trip to a coded error, and throws away an isolate that can't be trusted any more. */
  private classify(live: Live, err: unknown): NexError {
    if (live.killed) return live.killed;
    if (this.disposed) return this.stopped();
    const msg = err instanceof Error ? err.message : String(err);
    if (live.isolate.isDisposed || /memory limit|abandoned/i.test(msg)) {
      const e = this.memoryError();
      this.kill(live, e);
      return e;
    }
    return new NexError("NEX_E_FUNCTION_ERROR", msg);
  }

  /** Disposes an isolate; the invocations still running in it get `why`. */
  private kill(live: Live, why: NexError): void {
    if (live.killed) return;
    live.killed = why;
    live.results = [];
    if (this.live === live) this.live = undefined;
    this.retired.delete(live);
    live.booted.release();
    if (!live.isolate.isDisposed) live.isolate.dispose();
    if (live.state.running === 0) return;
    live.state.running = 0;
    for (const q of this.running.values()) {
      if (q.live !== live) continue;
      this.running.delete(q.id);
      q.reject(why);
    }
  }

  private stopped(): NexError {
    return new NexError("NEX_E_NOT_FOUND", `function ${this.spec.name} was stopped`);
  }

  private memoryError(): NexError {
    return new NexError("NEX_E_FUNCTION_MEMORY", `function ${this.spec.name} exceeded its ${this.spec.memoryLimitMiB} MiB memory limit and was stopped`);
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    if (this.due) clearImmediate(this.due);
    const stopped = this.stopped();
    for (const q of this.queue.splice(0)) q.reject(stopped);
    if (this.live) this.kill(this.live, stopped);
    for (const live of [...this.retired]) this.kill(live, stopped);
    for (const q of this.running.values()) q.reject(stopped);
    this.running.clear();
  }
}

/** True when `o` has an own enumerable key (without building the array of them, on the hot path). */
function hasKeys(o: Record<string, string>): boolean {
  for (const k in o) if (Object.prototype.hasOwnProperty.call(o, k)) return true;
  return false;
}

/**
 * isolated-vm's memory limit does not count WebAssembly memories, nor resizable and growable array buffers: a 64 MiB
 * isolate grew its runner to 4 GB through them. Functions get neither. Flags apply to contexts created after they
 * are set, so the runner's own context (Node's fetch needs WebAssembly) keeps them; only v8 runners load this file.
 */
function withoutUncountedMemory(): void {
  v8.setFlagsFromString("--no-expose-wasm");
  // Node 20's V8 has the flag; later ones shipped the feature and reject it (the prelude takes the buffers away there).
  if (Number(process.versions.node.split(".")[0]) < 22) v8.setFlagsFromString("--no-harmony-rab-gsab");
}

/** Creates the v8 engine for a runner. */
export async function createV8Engine(ctx: EngineContext): Promise<FunctionEngine> {
  withoutUncountedMemory();
  const logLimits = ctx.logLimits ?? DEFAULT_LOG_LIMITS;
  const loaded = new Set<V8Function>();
  const idleMs = ctx.idleEvictMs ?? 0;
  const inTurn = limiter(WAKES_AT_ONCE);
  const spare = spares(logLimits);
  // One sweep for every function: no timer per function, nothing on the invocation path.
  const sweeper =
    idleMs > 0
      ? setInterval(
          () => {
            const now = performance.now();
            for (const fn of loaded) fn.sweep(now, idleMs);
          },
          Math.min(1_000, Math.max(10, Math.floor(idleMs / 4))),
        )
      : undefined;
  sweeper?.unref();
  return {
    async load(spec: WorkloadSpec, code: Uint8Array, bindings: WorkloadBindings): Promise<LoadedFunction> {
      const source = await toScriptSource(new TextDecoder().decode(code), spec.name);
      const maxConcurrency = Math.max(1, spec.maxConcurrency || WORKLOAD_TYPES.v8.defaultMaxConcurrency);
      const fn = new V8Function(spec, source, bindings, Math.max(1, ctx.batchSize), maxConcurrency, logLimits, inTurn, spare.take);
      await fn.init();
      loaded.add(fn);
      return {
        invoke: (inv) => fn.invoke(inv),
        status: () => ({ idle: fn.idle, evictions: fn.evictions, wakes: fn.wakes }),
        dispose: () => {
          loaded.delete(fn);
          fn.dispose();
        },
      };
    },
    async close() {
      clearInterval(sweeper);
      spare.close();
      for (const fn of loaded) fn.dispose();
      loaded.clear();
    },
  };
}
