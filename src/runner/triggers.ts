/**
 * The hot path: trigger subscriptions. A message arrives, the function runs, the reply goes straight back
 * from the runner's own connection. No JSON on the payload, no per-call allocation of isolates or modules.
 */
import type { Msg, MsgHdrs, NatsConnection, Subscription } from "@nats-io/nats-core";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { Headers, NexError, headerValue, subjects, type EventData, type LogStream, type WorkloadSpec } from "../contract/index.js";
import type { LoadedFunction } from "../runtimes/engine.js";
import type { RuntimeTunables, WorkloadStats } from "../runtimes/runtime.js";

/** Reports failures to the node. */
export type EventSink = (ns: string, type: "function_failed", workloadId: string, data: EventData<"function_failed">) => void;

/** A deployed function: its subscriptions and counters. */
export class TriggeredFunction {
  private subs: Subscription[] = [];
  private inFlight = 0;
  private eventWindow = { second: 0, count: 0 };
  readonly stats: WorkloadStats = { state: "running", invocations: 0, failures: 0, restarts: 0 };

  constructor(
    readonly spec: WorkloadSpec,
    private readonly fn: LoadedFunction,
    private readonly nc: NatsConnection,
    private readonly tunables: Pick<RuntimeTunables, "maxInFlight" | "failureEventsPerSecond">,
    private readonly emit: EventSink,
    private readonly log: (stream: LogStream, line: string) => void,
  ) {}

  /** Subscribes every trigger subject in the workload's queue group. */
  start(): void {
    const queue = subjects.triggerQueue(this.spec.namespace, this.spec.name);
    for (const t of this.spec.triggers) {
      this.subs.push(this.nc.subscribe(t, { queue, callback: (err, msg) => (err ? undefined : this.onMessage(msg)) }));
    }
  }

  private onMessage(msg: Msg): void {
    this.stats.invocations++;
    if (this.inFlight >= this.tunables.maxInFlight) {
      this.fail(msg, new NexError("NEX_E_LIMIT", `function ${this.spec.name} has ${this.tunables.maxInFlight} invocations running or waiting`));
      return;
    }
    this.inFlight++;
    this.fn
      .invoke({ subject: msg.subject, payload: msg.data, headers: msg.headers ? plainHeaders(msg.headers) : undefined, reply: msg.reply })
      .then(
        (res) => {
          this.inFlight--;
          if (!msg.reply) return;
          const max = this.nc.info?.max_payload ?? Infinity;
          if (res.body.length > max) {
            this.fail(msg, new NexError("NEX_E_FUNCTION_ERROR", `the reply is ${res.body.length} bytes; the server allows at most ${max}`));
            return;
          }
          try {
            msg.respond(res.body, res.headers ? { headers: toHeaders(res.headers) } : undefined);
          } catch (err) {
            this.fail(msg, new NexError("NEX_E_FUNCTION_ERROR", `the reply could not be sent: ${(err as Error).message}`));
          }
        },
        (err: unknown) => {
          this.inFlight--;
          this.fail(msg, NexError.from(err, "NEX_E_FUNCTION_ERROR"));
        },
      );
  }

  private fail(msg: Msg, err: NexError): void {
    this.stats.failures++;
    this.stats.lastError = `${err.code}: ${err.message}`;
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
    this.stats.state = "stopping";
    await Promise.allSettled(this.subs.map((s) => s.drain()));
    this.subs = [];
    const deadline = Date.now() + this.spec.timeoutMs + 1_000;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.fn.dispose();
    this.stats.state = "stopped";
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
