/**
 * Reading the feeds: recent history from the feed stream, then (with `follow`) live messages.
 * Falls back to a plain subscription when JetStream has no feed stream.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { shortEventType, subjects, type LogStream, type NexEvent } from "../contract/index.js";

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
  /** Where history starts; wins over `sinceMs`. */
  since?: Date;
  /** Where reading stops: history after it is left out, and following ends when it comes. */
  until?: Date;
  /** Stop after this signal fires. */
  signal?: AbortSignal;
}

/** Reads a feed filter: history first, then live messages when following, all within `since` and `until`. */
export async function* readFeed(nc: NatsConnection, ns: string, filter: string, opts: FeedOptions = {}): AsyncGenerator<FeedItem> {
  const until = opts.until?.getTime();
  if (until !== undefined && opts.follow && until > Date.now()) {
    // Following ends when `until` comes: one signal for the caller's stop and the deadline.
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), until - Date.now());
    const stop = (): void => ac.abort();
    opts.signal?.addEventListener("abort", stop, { once: true });
    try {
      yield* readWithin(nc, ns, filter, { ...opts, signal: ac.signal }, until);
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", stop);
    }
    return;
  }
  yield* readWithin(nc, ns, filter, until !== undefined && until <= Date.now() ? { ...opts, follow: false } : opts, until);
}

async function* readWithin(nc: NatsConnection, ns: string, filter: string, opts: FeedOptions, until: number | undefined): AsyncGenerator<FeedItem> {
  if (opts.signal?.aborted) return;
  const js = jetstream(nc, { timeout: 5_000 });
  const since = opts.since ?? new Date(Date.now() - (opts.sinceMs ?? 3_600_000));
  let consumer;
  try {
    consumer = await js.consumers.get(subjects.feedStream(ns), {
      filter_subjects: filter,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: since.toISOString(),
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
      const time = new Date(m.info.timestampNanos / 1e6);
      // The stream keeps time order: the first message past `until` ends the read.
      if (until !== undefined && time.getTime() > until) break;
      yield { subject: m.subject, data: m.data, time };
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

/** Which log lines to read. */
export interface LogFilter {
  name?: string;
  id?: string;
  /** Only this stream. */
  stream?: LogStream;
  /** Only lines this matches. */
  grep?: RegExp;
}

/** Reads log lines of a namespace, a workload name, or one instance. */
export async function* readLogs(nc: NatsConnection, ns: string, opts: FeedOptions & LogFilter = {}): AsyncGenerator<LogLine> {
  const dec = new TextDecoder();
  for await (const it of readFeed(nc, ns, subjects.logsFilter(ns, opts.name, opts.id, opts.stream), opts)) {
    const s = subjects.parseLogs(it.subject);
    if (!s) continue;
    const line = dec.decode(it.data);
    if (opts.grep && !matches(opts.grep, line)) continue;
    yield { ...s, line, time: it.time };
  }
}

/** Which events to read. */
export interface EventFilter {
  /** Only these types (short names, e.g. `function_failed`). */
  types?: readonly string[];
  /** Only events whose JSON this matches. */
  grep?: RegExp;
}

/** Reads events of a namespace (`system` holds the nodes' own events). */
export async function* readEvents(nc: NatsConnection, ns: string, opts: FeedOptions & EventFilter = {}): AsyncGenerator<NexEvent> {
  const types = opts.types && opts.types.length > 0 ? opts.types : undefined;
  // One type is a subject filter the server applies; several are filtered here.
  const filter = subjects.eventsFilter(ns, types?.length === 1 ? types[0] : undefined);
  for await (const it of readFeed(nc, ns, filter, opts)) {
    let ev: NexEvent;
    const text = new TextDecoder().decode(it.data);
    try {
      ev = JSON.parse(text) as NexEvent;
    } catch {
      continue;
    }
    if (types && !types.includes(shortEventType(ev))) continue;
    if (opts.grep && !matches(opts.grep, text)) continue;
    yield ev;
  }
}

/** `re.test(s)`, safe for a regex with the global or sticky flag (whose lastIndex would carry over). */
function matches(re: RegExp, s: string): boolean {
  re.lastIndex = 0;
  return re.test(s);
}
