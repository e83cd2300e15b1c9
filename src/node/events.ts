/**
 * Publishes a node's CloudEvents, and keeps each namespace's feed stream. A namespace's events go to that namespace
 * (its own account, with accounts), the nodes' own events to `system` in the control plane; each namespace's logs
 * and events sit in its own stream under its own limits, so one tenant can neither read nor evict another's.
 */
import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/nats-core";
import type { StreamConfig } from "@nats-io/jetstream";
import { ensureStream } from "../nats/streams.js";
import { cloudEventType, subjects, type EventData, type EventType, type NexEvent } from "../contract/index.js";

/** Where the events of a namespace are published. */
export type EventRoute = (ns: string) => Promise<NatsConnection>;

/** Sends a node's events. Publishing never throws: an event lost to a disconnect must not fail the work it reports. */
export class EventPublisher {
  constructor(
    private readonly route: EventRoute,
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
    const body = JSON.stringify(ev);
    this.route(ns).then(
      (nc) => {
        try {
          nc.publish(subjects.event(ns, type), body);
        } catch {
          // The connection is closed or draining; events are best effort by design.
        }
      },
      () => undefined,
    );
  }
}

/** Feed retention per namespace: a day, or `maxBytes`, whichever comes first. */
export const FEED_MAX_AGE_MS = 24 * 3600_000;

/** Creates a namespace's feed stream when it is missing. */
export async function ensureFeedStream(nc: NatsConnection, ns: string, maxBytes: number): Promise<void> {
  await ensureStream(nc, {
    name: subjects.feedStream(ns),
    subjects: [subjects.feedAll(ns)],
    max_age: FEED_MAX_AGE_MS * 1_000_000,
    max_bytes: maxBytes,
    discard: "old" as StreamConfig["discard"],
  });
}
