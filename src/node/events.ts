/** Publishes CloudEvents for a node, and makes sure the feed stream keeps recent logs and events. */
import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/nats-core";
import type { StreamConfig } from "@nats-io/jetstream";
import { ensureStream } from "../nats/streams.js";
import { FEED_STREAM, cloudEventType, subjects, type EventData, type EventType, type NexEvent } from "../contract/index.js";

/** Sends a node's events. Publishing never throws: an event lost to a disconnect must not fail the work it reports. */
export class EventPublisher {
  constructor(
    private readonly nc: NatsConnection,
    private readonly nodeId: string,
  ) {}

  /** Publishes one event on `$NEX.FEED.<ns>.events.<type>`. */
  emit<T extends EventType>(ns: string, type: T, subject: string | undefined, data: EventData<T>): void {
    const ev: NexEvent = {
      specversion: "1.0",
      id: randomUUID(),
      source: `nex://node/${this.nodeId}`,
      type: cloudEventType(type),
      time: new Date().toISOString(),
      datacontenttype: "application/json",
      subject,
      nexnamespace: ns,
      data: { nodeId: this.nodeId, ...data },
    };
    try {
      this.nc.publish(subjects.event(ns, type), JSON.stringify(ev));
    } catch {
      // The connection is closed or draining; events are best effort by design.
    }
  }
}

/** Feed retention: a day, or 256 MiB, whichever comes first. */
export const FEED_LIMITS = { maxAgeMs: 24 * 3600_000, maxBytes: 256 * 1024 * 1024 } as const;

/** Creates the feed stream when it is missing. */
export async function ensureFeedStream(nc: NatsConnection): Promise<void> {
  await ensureStream(nc, {
    name: FEED_STREAM,
    subjects: subjects.feedStreamSubjects(),
    max_age: FEED_LIMITS.maxAgeMs * 1_000_000,
    max_bytes: FEED_LIMITS.maxBytes,
    discard: "old" as StreamConfig["discard"],
  });
}
