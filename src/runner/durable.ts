/**
 * Durable triggers, the runner's half: one instance's share of the durable consumer its function's instances share
 * (the node made the stream and the consumer, src/node/durable.ts), and the book of reply subjects that lets a
 * request to a durable trigger get the function's reply.
 *
 * - Messages are consumed at the function's concurrency; the server holds the whole function to `max_ack_pending`.
 * - A message is acked when the function returned, and its reply sent. A failure naks it with the deploy's backoff
 *   (a plain nak would skip the delay); the last failure sends it to the dead letters, then acks it.
 * - The stream stores no reply subject, so each instance also receives the trigger subjects plainly (not in a queue
 *   group) and notes the reply subject of each request under a digest of its subject, headers and payload; the
 *   instance that gets the stored copy takes the reply subject from its own book when the function is done.
 */
import { createHash } from "node:crypto";
import type { Msg, MsgHdrs, NatsConnection, Subscription } from "@nats-io/nats-core";
import { jetstream, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import type { NexError} from "../contract/index.js";
import { TRIGGER_CONSUMER, durableTriggers, subjects, type WorkloadSpec } from "../contract/index.js";
import { deadLetterHeaders, messageIdOf } from "../nats/dead-letters.js";

/** How long a noted reply subject is kept: longer than any requester waits. */
const REPLY_TTL_MS = 120_000;

/** Most reply subjects one instance keeps noted. */
const REPLY_BOOK_ENTRIES = 10_000;

/** Replies of requests to durable triggers, noted when the request passes and taken when the function answers. */
export class ReplyBook {
  private readonly book = new Map<string, { reply: string; at: number }[]>();
  private size = 0;

  /** The digest a request and its stored copy share. */
  static key(subject: string, headers: MsgHdrs | undefined, data: Uint8Array): string {
    const h = createHash("sha256");
    h.update(subject);
    h.update("\n");
    if (headers) {
      for (const k of [...headers.keys()].sort()) {
        for (const v of headers.values(k)) h.update(`${k}:${v}\n`);
      }
    }
    h.update("\n");
    h.update(data);
    return h.digest("base64");
  }

  /** Notes the reply subject of a request that just passed. */
  note(msg: Msg): void {
    if (!msg.reply) return;
    const now = Date.now();
    if (this.size >= REPLY_BOOK_ENTRIES) this.expire(now, true);
    const key = ReplyBook.key(msg.subject, msg.headers, msg.data);
    const list = this.book.get(key);
    if (list) list.push({ reply: msg.reply, at: now });
    else this.book.set(key, [{ reply: msg.reply, at: now }]);
    this.size++;
  }

  /**
   * The reply subject of the request with this digest that passed closest to `storedAt` (the stored copy's server
   * time, in ms), removed from the book; undefined when none. Requests with the same content are told apart by when
   * they passed: an entry whose stored copy never came (or came before it was noted) is left to expire, instead of
   * taking the answer of every request after it.
   */
  take(key: string, storedAt: number): string | undefined {
    const list = this.book.get(key);
    if (!list) return undefined;
    // Entries are noted in time order: the expired ones lead, and the closest one is found by bisection.
    const now = Date.now();
    while (list.length > 0 && now - list[0]!.at > REPLY_TTL_MS) {
      list.shift();
      this.size--;
    }
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.at < storedAt) lo = mid + 1;
      else hi = mid;
    }
    // lo is the first entry noted at or after storedAt; the one before it may be closer.
    const best = lo > 0 && (lo === list.length || storedAt - list[lo - 1]!.at <= list[lo]!.at - storedAt) ? lo - 1 : lo;
    const e = list[best];
    if (e) {
      list.splice(best, 1);
      this.size--;
    }
    if (list.length === 0) this.book.delete(key);
    return e?.reply;
  }

  /** Drops expired entries (and, when full, the oldest ones too). */
  private expire(now: number, full: boolean): void {
    for (const [k, list] of this.book) {
      while (list.length > 0 && (now - list[0]!.at > REPLY_TTL_MS || (full && this.size >= REPLY_BOOK_ENTRIES / 2))) {
        list.shift();
        this.size--;
      }
      if (list.length === 0) this.book.delete(k);
    }
  }
}

/** What a delivered durable message carries to the function. */
export interface DurableDelivery {
  msg: JsMsg;
  deliveryCount: number;
  messageId: string;
  /** The digest under which the request's reply subject was noted. */
  replyKey: string;
  /** When the server stored the message (ms since the epoch). */
  storedAt: number;
}

/** The outcome the consumer acts on after one invocation. */
export type DurableOutcome = { ok: true } | { ok: false; err: NexError };

/** Consumes one durable function's stream for one instance. */
export class DurableConsumer {
  private messages: ConsumerMessages | undefined;
  private subs: Subscription[] = [];
  private stopped = false;
  readonly book = new ReplyBook();
  readonly stream: string;

  constructor(
    private readonly spec: WorkloadSpec,
    /** The function's own connection: it consumes, acks and sees requests. */
    private readonly nc: NatsConnection,
    /** The runner's connection: it writes dead letters. */
    private readonly runnerNc: NatsConnection,
    /** Runs one delivery; resolves when the function answered (or failed). */
    private readonly deliver: (d: DurableDelivery) => void,
    private readonly log: (line: string) => void,
  ) {
    this.stream = subjects.triggerStream(spec.namespace, spec.name);
  }

  /** The trigger subjects this instance consumes from the stream. */
  static subjectsOf(spec: WorkloadSpec): string[] {
    return durableTriggers(spec);
  }

  /** Starts noting requests and consuming. */
  async start(): Promise<void> {
    for (const t of durableTriggers(this.spec)) {
      this.subs.push(this.nc.subscribe(t, { callback: (err, m) => (err ? undefined : this.book.note(m)) }));
    }
    const consumer = await jetstream(this.nc, { timeout: 5_000 }).consumers.get(this.stream, TRIGGER_CONSUMER);
    this.messages = await consumer.consume({
      max_messages: Math.max(1, this.spec.maxConcurrency),
      callback: (m) => {
        if (this.stopped) return void m.nak(0);
        this.deliver({
          msg: m,
          deliveryCount: m.info.deliveryCount,
          messageId: messageIdOf(m.headers, this.stream, m.seq),
          replyKey: ReplyBook.key(m.subject, m.headers, m.data),
          storedAt: m.info.timestampNanos / 1e6,
        });
      },
    });
  }

  /** Acts on the outcome of one delivery: ack, nak with backoff, or dead-letter on the last try. */
  async settle(d: DurableDelivery, outcome: DurableOutcome): Promise<"acked" | "retry" | "dead"> {
    if (outcome.ok) {
      d.msg.ack();
      return "acked";
    }
    if (d.deliveryCount < this.spec.maxDeliver) {
      const steps = this.spec.backoff;
      const delay = steps.length === 0 ? 0 : steps[Math.min(d.deliveryCount - 1, steps.length - 1)]!;
      // Never a plain nak: it would skip the delay and hot-loop.
      d.msg.nak(Math.max(1, delay));
      return "retry";
    }
    const m = d.msg;
    const original: [string, string[]][] = m.headers ? [...m.headers.keys()].map((k) => [k, m.headers!.values(k)]) : [];
    const h = deadLetterHeaders(original, {
      subject: m.subject,
      code: outcome.err.code,
      error: outcome.err.message,
      deliveries: d.deliveryCount,
      messageId: d.messageId,
      stream: this.stream,
      seq: m.seq,
    });
    try {
      await jetstream(this.runnerNc, { timeout: 5_000 }).publish(subjects.dlq(this.spec.namespace, this.spec.name), m.data, { headers: h });
    } catch (err) {
      // Not acked: the deliveries ran out, so the node moves it when the server says so.
      this.log(`could not write the dead letter of message ${m.seq}: ${(err as Error).message}; the node will`);
      m.nak(1_000);
      return "dead";
    }
    m.ack();
    return "dead";
  }

  /** Stops consuming; messages not yet acked are given again to another instance (or this one's successor). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    await this.messages?.close().catch(() => undefined);
  }
}
