/**
 * Reading the feeds: recent history from the feed stream, then (with `follow`) live messages.
 * Falls back to a plain subscription when JetStream has no feed stream.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { subjects, type NexEvent } from "../contract/index.js";

/** One feed message. */
export interface FeedItem {
  subject: string;
  data: Uint8Array;
  /** When the server stored it (history) or when it was received (live). */
  time: Date;
}

/** How to read a feed. */
export interface FeedOptions {
  /** Keep reading live messages after the history. */
  follow?: boolean;
  /** How far back history goes. Default one hour. */
  sinceMs?: number;
  /** Stop after this signal fires. */
  signal?: AbortSignal;
}

/** Reads a feed filter: history first, then live messages when following. */
export async function* readFeed(nc: NatsConnection, ns: string, filter: string, opts: FeedOptions = {}): AsyncGenerator<FeedItem> {
  const js = jetstream(nc, { timeout: 5_000 });
  let consumer;
  try {
    consumer = await js.consumers.get(subjects.feedStream(ns), {
      filter_subjects: filter,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(Date.now() - (opts.sinceMs ?? 3_600_000)).toISOString(),
    });
  } catch {
    consumer = undefined;
  }
  if (!consumer) {
    if (opts.follow) yield* live(nc, filter, opts.signal);
    return;
  }
  const info = await consumer.info();
  if (info.num_pending === 0 && !opts.follow) return;
  const iter = await consumer.consume();
  const onAbort = (): void => void iter.stop();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const m of iter) {
      yield { subject: m.subject, data: m.data, time: new Date(m.info.timestampNanos / 1e6) };
      if (!opts.follow && m.info.pending === 0) break;
    }
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    await iter.close().catch(() => undefined);
  }
}

async function* live(nc: NatsConnection, filter: string, signal?: AbortSignal): AsyncGenerator<FeedItem> {
  const sub = nc.subscribe(filter);
  const onAbort = (): void => sub.unsubscribe();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const m of sub) yield { subject: m.subject, data: m.data, time: new Date() };
  } finally {
    signal?.removeEventListener("abort", onAbort);
    sub.unsubscribe();
  }
}

/** A log line with where it came from. */
export interface LogLine {
  namespace: string;
  name: string;
  id: string;
  stream: "stdout" | "stderr";
  line: string;
  time: Date;
}

/** Reads log lines of a namespace, a workload name, or one instance. */
export async function* readLogs(nc: NatsConnection, ns: string, opts: FeedOptions & { name?: string; id?: string } = {}): AsyncGenerator<LogLine> {
  for await (const it of readFeed(nc, ns, subjects.logsFilter(ns, opts.name, opts.id), opts)) {
    const s = subjects.parseLogs(it.subject);
    if (!s) continue;
    yield { ...s, line: new TextDecoder().decode(it.data), time: it.time };
  }
}

/** Reads events of a namespace (`system` holds the nodes' own events). */
export async function* readEvents(nc: NatsConnection, ns: string, opts: FeedOptions = {}): AsyncGenerator<NexEvent> {
  for await (const it of readFeed(nc, ns, subjects.eventsFilter(ns), opts)) {
    try {
      yield JSON.parse(new TextDecoder().decode(it.data)) as NexEvent;
    } catch {
      // not an event: skip
    }
  }
}
