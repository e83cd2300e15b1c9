/**
 * A small browser client of the control API and the feeds, over NATS websocket with the official client. The client
 * library (`src/client/`) needs Node (hashing, the object store), so the page asks the same questions itself: PING and
 * LIST broadcast through the namespace's own import, gathered the way `NexClient.gather` does.
 */
import { jwtAuthenticator, nkeyAuthenticator, wsconnect, type Authenticator, type NatsConnection, type Status } from "@nats-io/nats-core";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { Headers, subjects, type ControlVerb, type ListReply, type NodeSummary, type WorkloadSummary } from "../../contract/index.js";
import { isNoResponders } from "../../nats/errors.js";
import { eventSummary, type EventEntry, type LogEntry, type PageAccess } from "../model.js";

/** How many feed messages of history the page reads when it connects. */
const HISTORY = 500;

function authenticators(a: PageAccess): Authenticator[] {
  const enc = new TextEncoder();
  const out: Authenticator[] = [];
  if (a.jwt && a.seed) out.push(jwtAuthenticator(a.jwt, enc.encode(a.seed)));
  if (a.nkeySeed) out.push(nkeyAuthenticator(enc.encode(a.nkeySeed)));
  return out;
}

/** A feed message, decoded. */
export type FeedEntry = { kind: "log"; log: LogEntry } | { kind: "event"; event: EventEntry };

/** One connection of the page to NATS, as one namespace. */
export class NexWs {
  private constructor(
    readonly nc: NatsConnection,
    readonly namespace: string,
  ) {}

  /** Connects; it then reconnects by itself, forever, until `close()`. */
  static async connect(a: PageAccess): Promise<NexWs> {
    const auth = authenticators(a);
    const nc = await wsconnect({
      servers: a.servers,
      name: "nex-ui",
      ...(auth.length > 0 ? { authenticator: auth } : {}),
      ...(a.user !== undefined ? { user: a.user, pass: a.pass } : {}),
      ...(a.token !== undefined ? { token: a.token } : {}),
      ...(a.inboxPrefix ? { inboxPrefix: a.inboxPrefix } : {}),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1_000,
      timeout: 5_000,
      noAsyncTraces: true,
    });
    return new NexWs(nc, a.namespace);
  }

  /** The connection's status changes (disconnect, reconnecting, reconnect…). */
  status(): AsyncIterable<Status> {
    return this.nc.status();
  }

  /** Resolves when the connection is closed for good, with the error that closed it. */
  closed(): Promise<void | Error> {
    return this.nc.closed();
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    await this.nc.close().catch(() => undefined);
  }

  /** A broadcast control request: every node's answer (error replies skipped), after the answers stop coming. */
  private async gather<T>(verb: ControlVerb): Promise<T[]> {
    const out: T[] = [];
    try {
      const it = await this.nc.requestMany(subjects.control(this.namespace, verb), "{}", { strategy: "stall", maxWait: 1_500, stall: 150 });
      for await (const m of it) {
        if (m.data.length === 0 && !m.headers) continue;
        if (m.headers?.get(Headers.ServiceErrorCode) || m.headers?.get(Headers.ServiceError)) continue;
        try {
          out.push(m.json<T>());
        } catch {
          // one node's bad reply must not hide the others'
        }
      }
    } catch (err) {
      if (!isNoResponders(err)) throw err;
    }
    return out;
  }

  /** The namespace's nodes (PING). */
  ping(): Promise<NodeSummary[]> {
    return this.gather<NodeSummary>("PING");
  }

  /** The namespace's workloads across nodes (LIST). */
  async list(): Promise<WorkloadSummary[]> {
    const replies = await this.gather<ListReply>("LIST");
    const out: WorkloadSummary[] = [];
    for (const r of replies) {
      out.push(...(r.workloads ?? []));
      // A list larger than one message comes in pages, from that node alone; the desired workloads are not shown here.
      let next = r.next;
      while (next !== undefined && next > 0) {
        const m = await this.nc.request(subjects.control(this.namespace, "LIST", r.nodeId), JSON.stringify({ offset: next }), { timeout: 5_000 });
        if (m.headers?.get(Headers.ServiceErrorCode)) break;
        const page = m.json<ListReply>();
        out.push(...(page.workloads ?? []));
        if ((page.workloads ?? []).length === 0) break;
        next = page.next;
      }
    }
    return out;
  }

  /**
   * Reads the namespace's feed: the last messages of its stream, then live ones, until the connection closes. An
   * ordered consumer picks up where it was after a reconnect, and a new connection goes on after `afterSeq` (the
   * last message the page showed) when the stream still holds it. Without a feed stream (no node has served the
   * namespace yet) it reads live messages only.
   */
  async feed(onEntry: (e: FeedEntry) => void, afterSeq = 0): Promise<void> {
    const stream = subjects.feedStream(this.namespace);
    const filter = subjects.feedAll(this.namespace);
    const js = jetstream(this.nc, { timeout: 5_000 });
    let info;
    try {
      info = await (await js.streams.get(stream)).info();
    } catch {
      info = undefined;
    }
    if (!info) {
      const sub = this.nc.subscribe(filter);
      for await (const m of sub) {
        const e = decodeFeed(m.subject, m.data, 0, new Date());
        if (e) onEntry(e);
      }
      return;
    }
    const { first_seq: first, last_seq: last } = info.state;
    const goOn = afterSeq > 0 && afterSeq >= first - 1 && afterSeq <= last;
    const start = goOn ? afterSeq + 1 : Math.max(1, first, last - HISTORY + 1);
    const consumer = await js.consumers.get(stream, { filter_subjects: filter, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start });
    const iter = await consumer.consume();
    void this.nc.closed().then(() => iter.stop());
    for await (const m of iter) {
      const e = decodeFeed(m.subject, m.data, m.seq, new Date(m.info.timestampNanos / 1e6));
      if (e) onEntry(e);
    }
  }
}

/** A feed message as a log line or an event, or undefined when it is neither. */
export function decodeFeed(subject: string, data: Uint8Array, seq: number, time: Date): FeedEntry | undefined {
  const log = subjects.parseLogs(subject);
  if (log) return { kind: "log", log: { seq, time, name: log.name, id: log.id, stream: log.stream, line: new TextDecoder().decode(data) } };
  const ev = subjects.parseEvent(subject);
  if (!ev) return undefined;
  try {
    const ce = JSON.parse(new TextDecoder().decode(data)) as { time?: string; subject?: string; data?: unknown };
    const t = typeof ce.time === "string" ? new Date(ce.time) : time;
    return {
      kind: "event",
      event: { seq, time: isNaN(t.getTime()) ? time : t, type: ev.type, subject: typeof ce.subject === "string" ? ce.subject : undefined, summary: eventSummary(ce.data) },
    };
  } catch {
    return undefined;
  }
}
