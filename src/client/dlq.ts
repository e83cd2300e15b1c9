/**
 * A namespace's dead letters: the messages of durable functions that failed every delivery. They live in the
 * namespace's stream `NEX_DLQ_<ns>` (subjects `$NEX.DLQ.<ns>.<name>`), each with the original subject, headers and
 * payload, the last error, the delivery count and the message id. This reads them with the namespace's own
 * credentials, replays them into their function's trigger stream, and purges them.
 *
 * ```ts
 * const dlq = new DeadLetters(nc, "default");
 * for (const l of await dlq.list("ingest")) console.log(l.seq, l.code, l.error);
 * await dlq.replay("ingest");           // every dead letter of ingest, back to its subject
 * ```
 */
import type { MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Headers, NexError, subjects } from "../contract/index.js";
import { isStreamNotFound, jsApiCode, JsCodes } from "../nats/errors.js";

/** One dead letter. */
export interface DeadLetter {
  /** Its sequence in the dead-letter stream (what `show` and `replay --id` take). */
  seq: number;
  /** The function whose message it was. */
  name: string;
  /** The subject it was published to. */
  subject: string;
  /** The message's id (the publisher's `Nats-Msg-Id`, or stream and sequence), kept across a replay. */
  messageId: string;
  deliveries: number;
  code: string;
  error: string;
  /** When it was given up (ISO time). */
  time: string;
  size: number;
}

/** A dead letter with what it carried. */
export interface DeadLetterDetail extends DeadLetter {
  headers: Record<string, string[]>;
  payload: Uint8Array;
}

/** Most dead letters one listing reads. */
export const DLQ_LIST_LIMIT = 1_000;

/** True when a subject matches a stream's subject filter (with `*` and `>`). */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split(".");
  const s = subject.split(".");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== "*" && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}

/** The parts of a stored or delivered message a dead letter is read from. */
interface RawLetter {
  seq: number;
  subject: string;
  header?: MsgHdrs;
  data: Uint8Array;
  time: Date;
}

function toLetter(m: RawLetter): DeadLetterDetail {
  const h = m.header;
  const get = (k: string): string => h?.get(k) ?? "";
  const headers: Record<string, string[]> = {};
  for (const k of h?.keys() ?? []) {
    if (k.startsWith("Nex-Dlq-") || k === Headers.MsgId) continue;
    headers[k] = h!.values(k);
  }
  return {
    seq: m.seq,
    name: subjects.parseDlq(m.subject)?.name ?? "",
    subject: get(Headers.DlqSubject),
    messageId: get(Headers.DlqMessageId),
    deliveries: Number(get(Headers.DlqDeliveries)) || 0,
    code: get(Headers.DlqCode),
    error: get(Headers.DlqError),
    time: get(Headers.DlqTime) || m.time.toISOString(),
    size: m.data.length,
    headers,
    payload: m.data,
  };
}

/** Reads, replays and purges one namespace's dead letters. */
export class DeadLetters {
  private readonly stream: string;

  constructor(
    private readonly nc: NatsConnection,
    private readonly namespace: string,
  ) {
    this.stream = subjects.dlqStream(namespace);
  }

  private jsm(): Promise<JetStreamManager> {
    return jetstreamManager(this.nc, { timeout: 10_000 });
  }

  /** Dead letters of one function (or all), oldest first, at most `limit`. */
  async list(name?: string, limit = DLQ_LIST_LIMIT): Promise<DeadLetter[]> {
    return (await this.read(name, limit)).map(({ headers: _h, payload: _p, ...l }) => l);
  }

  private async read(name: string | undefined, limit: number): Promise<DeadLetterDetail[]> {
    const jsm = await this.jsm();
    try {
      await jsm.streams.info(this.stream);
    } catch (err) {
      if (isStreamNotFound(err)) return [];
      throw err;
    }
    const filter = subjects.dlq(this.namespace, name);
    const out: DeadLetterDetail[] = [];
    const c = await jetstream(this.nc).consumers.get(this.stream, { filter_subjects: filter, deliver_policy: DeliverPolicy.All });
    try {
      const info = await c.info(true);
      let left = Math.min(limit, info.num_pending);
      while (left > 0) {
        const batch = await c.fetch({ max_messages: Math.min(left, 256), expires: 2_000 });
        let got = 0;
        for await (const m of batch) {
          got++;
          out.push(toLetter({ seq: m.seq, subject: m.subject, header: m.headers, data: m.data, time: new Date(m.info.timestampNanos / 1e6) }));
        }
        if (got === 0) break;
        left -= got;
      }
    } finally {
      await c.delete().catch(() => undefined);
    }
    return out;
  }

  /** One dead letter by its sequence or its message id, with its headers and payload. */
  async show(ref: string): Promise<DeadLetterDetail> {
    const jsm = await this.jsm();
    if (/^\d+$/.test(ref)) {
      try {
        const m = await jsm.streams.getMessage(this.stream, { seq: Number(ref) });
        if (m && subjects.parseDlq(m.subject)?.namespace === this.namespace) return toLetter(m);
      } catch (err) {
        if (!isStreamNotFound(err) && jsApiCode(err) !== JsCodes.NoMessageFound) throw err;
      }
    } else {
      const hit = (await this.read(undefined, DLQ_LIST_LIMIT)).find((l) => l.messageId === ref);
      if (hit) return hit;
    }
    throw new NexError("NEX_E_NOT_FOUND", `no dead letter ${JSON.stringify(ref)} in namespace ${this.namespace}`, { hint: "`nex dlq ls NAME` lists them." });
  }

  /**
   * Publishes dead letters of `name` (all, or the one `id` names) to their subjects again, into the function's
   * trigger stream, keeping their message ids; each is removed from the dead letters once sent. The function must
   * be durable on that subject now, or the message would reach no stream.
   */
  async replay(name: string, id?: string): Promise<{ replayed: number[] }> {
    const jsm = await this.jsm();
    const trigger = subjects.triggerStream(this.namespace, name);
    let kept: string[];
    try {
      kept = (await jsm.streams.info(trigger)).config.subjects ?? [];
    } catch (err) {
      if (!isStreamNotFound(err)) throw err;
      throw new NexError("NEX_E_NOT_FOUND", `${name} has no trigger stream in namespace ${this.namespace}: deploy it with --durable first`);
    }
    const letters = id === undefined ? await this.read(name, DLQ_LIST_LIMIT) : [await this.show(id)];
    const replayed: number[] = [];
    for (const l of letters) {
      if (l.name !== name) throw new NexError("NEX_E_NOT_FOUND", `dead letter ${l.seq} belongs to ${l.name || "another function"}, not ${name}`);
      if (!kept.some((f) => subjectMatches(f, l.subject))) {
        throw new NexError("NEX_E_CONFLICT", `${name} no longer keeps ${l.subject} in its stream, so dead letter ${l.seq} would be lost`, {
          hint: "Deploy it durable on that subject again, or purge the dead letter.",
        });
      }
      const h = natsHeaders();
      for (const [k, vs] of Object.entries(l.headers)) for (const v of vs) h.append(k, v);
      h.set(Headers.MessageId, l.messageId);
      // The trigger stream sends no acks (requests get the function's reply), so a flush is the receipt.
      this.nc.publish(l.subject, l.payload, { headers: h });
      await this.nc.flush();
      await jsm.streams.deleteMessage(this.stream, l.seq, false).catch(() => undefined);
      replayed.push(l.seq);
    }
    return { replayed };
  }

  /** Removes the dead letters of one function (or of the whole namespace); returns how many. */
  async purge(name?: string): Promise<number> {
    const jsm = await this.jsm();
    try {
      const r = await jsm.streams.purge(this.stream, { filter: subjects.dlq(this.namespace, name) });
      return r.purged;
    } catch (err) {
      if (isStreamNotFound(err)) return 0;
      throw err;
    }
  }
}
