/**
 * The hot path: trigger subscriptions. A message arrives, the function runs, the reply goes straight back
 * from the runner's own connection. No JSON on the payload, no per-call allocation of isolates or modules.
 */
import type { Msg, MsgHdrs, NatsConnection, Subscription } from "@nats-io/nats-core";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { Headers, NexError, durableTriggers, headerValue, subjects, type EventData, type LogStream, type WorkloadSpec, type WorkloadState } from "../contract/index.js";
import { FunctionRecorder } from "../observe/recorder.js";
import type { InvocationSpan, InvocationTracer } from "../observe/trace-types.js";
import type { InvocationResult, LoadedFunction } from "../runtimes/engine.js";
import type { RuntimeTunables, TickResult, WorkloadStats } from "../runtimes/runtime.js";
import { DurableConsumer, type DurableDelivery } from "./durable.js";

/** Reports failures and dead letters to the node. */
export type EventSink = <T extends "function_failed" | "dead_lettered">(ns: string, type: T, workloadId: string, data: EventData<T>) => void;

/** What an answer goes to: a core message, or (durable triggers) the request a stored message came from. */
type Answerable = Pick<Msg, "subject" | "reply" | "respond">;

/** A deployed function: its subscriptions and what is measured about it. */
export class TriggeredFunction {
  private subs: Subscription[] = [];
  private inFlight = 0;
  private eventWindow = { second: 0, count: 0 };
  private state: WorkloadState = "running";
  readonly recorder = new FunctionRecorder();

  private durable: DurableConsumer | undefined;

  constructor(
    readonly spec: WorkloadSpec,
    private readonly fn: LoadedFunction,
    private readonly nc: NatsConnection,
    private readonly tunables: Pick<RuntimeTunables, "maxInFlight" | "failureEventsPerSecond">,
    private readonly emit: EventSink,
    private readonly log: (stream: LogStream, line: string) => void,
    private readonly tracer?: InvocationTracer,
    /** The runner's own connection, which writes dead letters (the function's may not publish under `$NEX`). */
    private readonly runnerNc: NatsConnection = nc,
  ) {}

  /**
   * Subscribes every plain trigger subject in the workload's queue group, and consumes the durable ones from their
   * stream (src/runner/durable.ts).
   */
  async start(): Promise<void> {
    const queue = subjects.triggerQueue(this.spec.namespace, this.spec.name);
    const kept = new Set(durableTriggers(this.spec));
    for (const t of this.spec.triggers) {
      if (kept.has(t)) continue;
      this.subs.push(this.nc.subscribe(t, { queue, callback: (err, msg) => (err ? undefined : this.onMessage(msg)) }));
    }
    if (kept.size > 0) {
      this.durable = new DurableConsumer(this.spec, this.nc, this.runnerNc, (d) => this.onDurable(d), (line) => this.log("stderr", line));
      await this.durable.start();
    }
  }

  /** The counters the node asks for. */
  stats(): WorkloadStats {
    const c = this.recorder.counters(this.inFlight);
    const s = this.fn.status?.();
    if (!s) return { state: this.state, restarts: 0, ...c };
    return { state: s.idle && this.state === "running" ? "idle" : this.state, restarts: 0, ...c, evictions: s.evictions, wakes: s.wakes };
  }

  // The hot path: one performance.now() pair and a few additions per invocation; tracing only when configured.
  private onMessage(msg: Msg): void {
    const t0 = performance.now();
    this.recorder.arrived();
    if (this.inFlight >= this.tunables.maxInFlight) {
      this.fail(msg, t0, new NexError("NEX_E_LIMIT", `function ${this.spec.name} has ${this.tunables.maxInFlight} invocations running or waiting`));
      return;
    }
    this.inFlight++;
    const span = this.tracer ? this.startSpan(msg) : undefined;
    this.fn
      .invoke({
        subject: msg.subject,
        payload: msg.data,
        headers: msg.headers ? plainHeaders(msg.headers) : undefined,
        reply: msg.reply,
        traceparent: span?.traceparent,
      })
      .then(
        // No .finally(): one promise less per invocation on the hot path.
        (res) => {
          this.inFlight--;
          this.reply(msg, t0, res, span);
        },
        (err: unknown) => {
          this.inFlight--;
          this.fail(msg, t0, NexError.from(err, "NEX_E_FUNCTION_ERROR"), span);
        },
      );
  }

  /** One delivery of a durable trigger: acked when the function answered, retried or dead-lettered when it failed. */
  private onDurable(d: DurableDelivery): void {
    const t0 = performance.now();
    const m = d.msg;
    if (this.inFlight >= this.tunables.maxInFlight) {
      // Not counted as a delivery the function saw: the server gives it again shortly.
      m.nak(1_000);
      return;
    }
    this.recorder.arrived();
    this.inFlight++;
    const durable = this.durable!;
    const h = m.headers;
    const span = this.tracer ? this.tracer.start(this.spec, m.subject, h?.get("traceparent") || undefined, h?.get("tracestate") || undefined, false) : undefined;
    this.fn
      .invoke({
        subject: m.subject,
        payload: m.data,
        headers: h ? plainHeaders(h) : undefined,
        traceparent: span?.traceparent,
        deliveryCount: d.deliveryCount,
        messageId: d.messageId,
      })
      .then(
        (res) => {
          this.inFlight--;
          this.reply(this.answerTo(durable, d), t0, res, span);
          void durable.settle(d, { ok: true });
        },
        (err: unknown) => {
          this.inFlight--;
          const e = NexError.from(err, "NEX_E_FUNCTION_ERROR");
          const last = d.deliveryCount >= this.spec.maxDeliver;
          // A requester hears of a failure only once no retry is left: a retry may still answer it.
          this.fail(last ? this.answerTo(durable, d) : { subject: m.subject, reply: undefined, respond: () => false }, t0, e, span);
          void durable.settle(d, { ok: false, err: e }).then((r) => {
            if (r !== "dead") return;
            this.emit(this.spec.namespace, "dead_lettered", this.spec.id, {
              name: this.spec.name,
              subject: m.subject,
              messageId: d.messageId,
              deliveries: d.deliveryCount,
              code: e.code,
              message: e.message,
            });
          });
        },
      );
  }

  /** Where the answer to a stored message goes: the request it came from, if this instance saw it pass. */
  private answerTo(durable: DurableConsumer, d: DurableDelivery): Answerable {
    const reply = durable.book.take(d.replyKey, d.storedAt);
    return {
      subject: d.msg.subject,
      reply,
      respond: (data, opts) => {
        if (!reply) return false;
        this.nc.publish(reply, data, opts);
        return true;
      },
    };
  }

  /** Runs one tick of the function's schedule (the node claimed it); resolves with how the run ended. */
  async tick(scheduledAt: string): Promise<TickResult> {
    const t0 = performance.now();
    const subject = subjects.schedule(this.spec.namespace, this.spec.name);
    this.recorder.arrived();
    this.inFlight++;
    const span = this.tracer?.start(this.spec, subject, undefined, undefined, false);
    try {
      await this.fn.invoke({ subject, payload: new Uint8Array(0), traceparent: span?.traceparent, scheduledAt });
      this.recorder.ok(t0, performance.now(), subject);
      span?.end();
      return { ok: true };
    } catch (err) {
      const e = NexError.from(err, "NEX_E_FUNCTION_ERROR");
      this.fail({ subject, reply: undefined, respond: () => false }, t0, e, span);
      return { ok: false, code: e.code, message: e.message };
    } finally {
      this.inFlight--;
    }
  }

  private startSpan(msg: Msg): InvocationSpan {
    const h = msg.headers;
    return this.tracer!.start(this.spec, msg.subject, h?.get("traceparent") || undefined, h?.get("tracestate") || undefined, Boolean(msg.reply));
  }

  private reply(msg: Answerable, t0: number, res: InvocationResult, span: InvocationSpan | undefined): void {
    if (msg.reply) {
      const max = this.nc.info?.max_payload ?? Infinity;
      if (res.body.length > max) {
        this.fail(msg, t0, new NexError("NEX_E_FUNCTION_ERROR", `the reply is ${res.body.length} bytes; the server allows at most ${max}`), span);
        return;
      }
      try {
        msg.respond(res.body, res.headers ? { headers: toHeaders(res.headers) } : undefined);
      } catch (err) {
        this.fail(msg, t0, new NexError("NEX_E_FUNCTION_ERROR", `the reply could not be sent: ${(err as Error).message}`), span);
        return;
      }
    }
    this.recorder.ok(t0, performance.now(), msg.subject);
    span?.end();
  }

  private fail(msg: Answerable, t0: number, err: NexError, span?: InvocationSpan): void {
    this.recorder.failed(t0, performance.now(), msg.subject, err);
    span?.end(err);
    try {
      if (msg.reply) msg.respond(JSON.stringify(err.toBody()), { headers: errorHeaders(err) });
    } catch {
      // The connection is closing: the caller's own timeout is all that is left.
    }
    this.log("stderr", `[${err.code}] ${err.message}`);
    const now = Math.floor(Date.now() / 1000);
    if (this.eventWindow.second !== now) this.eventWindow = { second: now, count: 0 };
    if (this.eventWindow.count++ < this.tunables.failureEventsPerSecond) {
      this.emit(this.spec.namespace, "function_failed", this.spec.id, {
        name: this.spec.name,
        subject: msg.subject,
        code: err.code,
        message: err.message,
      });
    }
  }

  /** Unsubscribes, letting in-flight invocations finish, then frees the function. */
  async stop(): Promise<void> {
    this.state = "stopping";
    // No new deliveries; what is unacked goes to another instance, or to this one's successor.
    await this.durable?.stop();
    await Promise.allSettled(this.subs.map((s) => s.drain()));
    this.subs = [];
    const deadline = Date.now() + this.spec.timeoutMs + 1_000;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.fn.dispose();
    this.state = "stopped";
  }
}

/** Micro-style error headers plus our code, so `nats req` and `nex req` both show what failed. */
function errorHeaders(err: NexError): MsgHdrs {
  const h = natsHeaders();
  h.set(Headers.ServiceError, headerValue(err.message, 1024));
  h.set(Headers.ServiceErrorCode, String(err.status));
  h.set(Headers.NexErrorCode, err.code);
  return h;
}

/** Message headers as the engines take them: name → values. */
function plainHeaders(h: MsgHdrs): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const k of h.keys()) out[k] = h.values(k);
  return out;
}

function toHeaders(h: Record<string, string>): MsgHdrs {
  const out = natsHeaders();
  for (const [k, v] of Object.entries(h)) out.set(k, v);
  return out;
}
