/**
 * Durable triggers, the node's half: the JetStream stream that keeps a durable function's trigger messages, the one
 * durable consumer all of its instances share, the namespace's dead-letter stream, and the dead letters of messages
 * whose last delivery never finished (the runner died, or timed out without answering). Runs in the node process,
 * on the namespace's agent connection; the runner consumes (src/runner/durable.ts).
 *
 * - The trigger stream (`NEX_TRIG_<ns>~<name>`) is a work queue: a message leaves it when acknowledged. It sends no
 *   publish acknowledgements, so a request to a durable trigger gets the function's reply and not the stream's.
 * - The consumer is pull-based, `max_ack_pending` is the function's concurrency times its replicas times the
 *   node's runners per namespace (each runner pulls up to the concurrency; a backlog drains at the function's pace),
 *   `ack_wait` outlasts a wait in the runner and one invocation (twice the timeout, plus slack), `max_deliver` is the
 *   deploy's.
 * - Retries wait for the deploy's backoff: the runner naks with the delay, as consumer-side backoff would cut
 *   `ack_wait` to the first delay on 2.9.
 * - Dead letters (`NEX_DLQ_<ns>`, subjects `$NEX.DLQ.<ns>.<name>`) carry the original subject and headers, the
 *   error, the delivery count and the message id. The runner writes them when the last try fails; here, the
 *   MAX_DELIVERIES advisory covers a last try that never ended. Both use the id `dlq:<stream>:<seq>`, so a message
 *   is dead-lettered once whoever gets there first.
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager, type StreamConfig } from "@nats-io/jetstream";
import { NexError, TRIGGER_CONSUMER, durableTriggers, subjects, type WorkloadSpec } from "../contract/index.js";
import { deadLetterHeaders, messageIdOf } from "../nats/dead-letters.js";
import { JsCodes, isStreamNotFound, jsApiCode } from "../nats/errors.js";
import { clusterReplicas, ensureStream, retryStoreCreation } from "../nats/streams.js";

/** How long dead letters are kept. */
const DLQ_MAX_AGE_MS = 14 * 86_400_000;

/** Time beyond one invocation's timeout before an unanswered delivery is given again (a crashed runner's). */
const ACK_SLACK_MS = 5_000;

/** What the durable part of a node needs. */
export interface DurableDeps {
  /** The namespace's agent connection. */
  agent(ns: string): Promise<NatsConnection>;
  triggerStreamBytes: number;
  dlqBytes: number;
  /** Runner processes per namespace: each consumes a durable function's stream at its concurrency. */
  runnersPerNamespace: number;
  log(line: string): void;
}

/** The fields of a spec this module reads. */
export type DurableSpec = Pick<WorkloadSpec, "namespace" | "name" | "triggers" | "durable" | "maxDeliver" | "timeoutMs" | "replicas"> & {
  maxConcurrency?: number;
};

/** What is left of a durable function's stream. */
export interface StreamLeft {
  stream: string;
  messages: number;
}

/** Creates, updates and removes durable trigger streams; dead-letters what the runners could not. */
export class DurableTriggers {
  private readonly watched = new Map<string, Subscription>();

  constructor(private readonly d: DurableDeps) {}

  /** Makes the stream and consumer of a durable function match its spec, and the namespace's dead-letter stream. */
  async ensure(spec: DurableSpec): Promise<void> {
    const subjectsKept = durableTriggers(spec);
    if (subjectsKept.length === 0) return;
    const nc = await this.d.agent(spec.namespace);
    await this.ensureDlq(nc, spec.namespace);
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    const name = subjects.triggerStream(spec.namespace, spec.name);
    const cfg: Partial<StreamConfig> & { name: string } = {
      name,
      description: `nex-ts durable triggers of ${spec.namespace}/${spec.name}`,
      subjects: subjectsKept,
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      max_bytes: this.d.triggerStreamBytes,
      no_ack: true,
      num_replicas: clusterReplicas(nc),
    };
    try {
      const info = await jsm.streams.info(name);
      const same = info.config.subjects.length === subjectsKept.length && subjectsKept.every((s) => info.config.subjects.includes(s));
      if (!same || info.config.max_bytes !== cfg.max_bytes) await jsm.streams.update(name, { ...info.config, subjects: subjectsKept, max_bytes: cfg.max_bytes });
    } catch (err) {
      if (!isStreamNotFound(err)) throw streamError(err, spec);
      try {
        await retryStoreCreation(() => jsm.streams.add(cfg));
      } catch (e) {
        if (jsApiCode(e) !== JsCodes.StreamNameInUse) throw streamError(e, spec);
      }
    }
    const consumer = {
      durable_name: TRIGGER_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      // Twice the timeout: a delivery may wait behind a busy invocation in its runner before its own one starts.
      ack_wait: (2 * spec.timeoutMs + ACK_SLACK_MS) * 1_000_000,
      max_deliver: spec.maxDeliver,
      max_ack_pending: Math.max(1, (spec.maxConcurrency ?? 1) * spec.replicas * this.d.runnersPerNamespace),
    };
    try {
      const info = await jsm.consumers.info(name, TRIGGER_CONSUMER);
      const c = info.config;
      if (c.ack_wait !== consumer.ack_wait || c.max_deliver !== consumer.max_deliver || c.max_ack_pending !== consumer.max_ack_pending) {
        await jsm.consumers.update(name, TRIGGER_CONSUMER, { ack_wait: consumer.ack_wait, max_deliver: consumer.max_deliver, max_ack_pending: consumer.max_ack_pending });
      }
    } catch (err) {
      if (jsApiCode(err) !== JsCodes.ConsumerNotFound) throw streamError(err, spec);
      await jsm.consumers.add(name, consumer).catch((e: unknown) => {
        // Another node made it at the same moment.
        if (jsApiCode(e) !== JsCodes.ConsumerNameExists) throw streamError(e, spec);
      });
    }
    this.watchAdvisories(spec.namespace, nc);
  }

  /** The stream of a function that is no longer durable: removed when empty; with messages, the deploy is refused. */
  async retire(ns: string, name: string): Promise<void> {
    const left = await this.left(ns, name);
    if (!left) return;
    if (left.messages > 0) {
      throw new NexError("NEX_E_CONFLICT", `${ns}/${name} has ${left.messages} unprocessed message(s) in its trigger stream ${left.stream}`, {
        hint: "Deploy it durable again to process them, or stop it with --delete-stream to drop them first.",
      });
    }
    await this.remove(ns, name);
  }

  /** What a function's stream holds, or undefined when it has none. */
  async left(ns: string, name: string): Promise<StreamLeft | undefined> {
    const jsm = await jetstreamManager(await this.d.agent(ns), { timeout: 5_000 });
    const stream = subjects.triggerStream(ns, name);
    try {
      const info = await jsm.streams.info(stream);
      return { stream, messages: info.state.messages };
    } catch (err) {
      if (isStreamNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Deletes a function's stream (and its unprocessed messages); true when there was one. */
  async remove(ns: string, name: string): Promise<boolean> {
    const jsm = await jetstreamManager(await this.d.agent(ns), { timeout: 5_000 });
    try {
      return await jsm.streams.delete(subjects.triggerStream(ns, name));
    } catch (err) {
      if (isStreamNotFound(err)) return false;
      throw err;
    }
  }

  private async ensureDlq(nc: NatsConnection, ns: string): Promise<void> {
    await ensureStream(
      nc,
      {
        name: subjects.dlqStream(ns),
        description: `nex-ts dead letters of namespace ${ns}`,
        subjects: [subjects.dlq(ns)],
        storage: StorageType.File,
        discard: DiscardPolicy.New,
        max_bytes: this.d.dlqBytes,
        max_age: DLQ_MAX_AGE_MS * 1_000_000,
        duplicate_window: 120 * 1_000_000_000,
      },
      this.d.log,
    );
  }

  /** Listens, once per namespace, for messages whose deliveries ran out without a dead letter from the runner. */
  private watchAdvisories(ns: string, nc: NatsConnection): void {
    if (this.watched.has(ns)) return;
    const sub = nc.subscribe(subjects.maxDeliveriesAdvisory(), {
      callback: (err, m) => {
        if (err) return;
        let a: { stream?: unknown; stream_seq?: unknown; deliveries?: unknown };
        try {
          a = m.json();
        } catch {
          return;
        }
        if (typeof a.stream !== "string" || typeof a.stream_seq !== "number") return;
        const owner = subjects.parseTriggerStream(a.stream);
        if (!owner || owner.namespace !== ns) return;
        void this.deadLetter(nc, owner.namespace, owner.name, a.stream, a.stream_seq, typeof a.deliveries === "number" ? a.deliveries : 0).catch(
          (e: Error) => this.d.log(`warning: could not dead-letter message ${a.stream_seq as number} of ${a.stream as string}: ${e.message}`),
        );
      },
    });
    this.watched.set(ns, sub);
  }

  /** Moves one exhausted message to the dead letters, then out of its trigger stream. */
  private async deadLetter(nc: NatsConnection, ns: string, name: string, stream: string, seq: number, deliveries: number): Promise<void> {
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    let msg;
    try {
      msg = await jsm.streams.getMessage(stream, { seq });
    } catch (err) {
      // Already dead-lettered and removed by the runner or another node.
      if (jsApiCode(err) === JsCodes.NoMessageFound || isStreamNotFound(err)) return;
      throw err;
    }
    if (!msg) return;
    const original: [string, string[]][] = msg.header ? [...msg.header.keys()].map((k) => [k, msg.header.values(k)]) : [];
    const h = deadLetterHeaders(original, {
      subject: msg.subject,
      code: "NEX_E_FUNCTION_TIMEOUT",
      error: `the last of ${deliveries} deliveries did not finish (the invocation timed out without an answer, or its runner stopped)`,
      deliveries,
      messageId: messageIdOf(msg.header, stream, seq),
      stream,
      seq,
    });
    await jetstream(nc, { timeout: 5_000 }).publish(subjects.dlq(ns, name), msg.data, { headers: h });
    await jsm.streams.deleteMessage(stream, seq, false).catch((err: unknown) => {
      if (jsApiCode(err) !== JsCodes.NoMessageFound) throw err;
    });
  }

  /** Stops listening for advisories. */
  close(): void {
    for (const s of this.watched.values()) s.unsubscribe();
    this.watched.clear();
  }
}

/** A stream error as a coded one: overlapping subjects are a conflict with another durable function. */
function streamError(err: unknown, spec: DurableSpec): NexError {
  const code = jsApiCode(err);
  if (code === JsCodes.StreamSubjectOverlap) {
    return new NexError("NEX_E_CONFLICT", `a trigger of ${spec.namespace}/${spec.name} is already kept by another durable function's stream`, {
      hint: "Two durable functions cannot share a trigger subject: give one of them another subject.",
      cause: err,
    });
  }
  if (code === JsCodes.AccountResourcesExceeded || code === JsCodes.InsufficientStorage || code === JsCodes.MaximumStreamsLimit) {
    return new NexError("NEX_E_LIMIT", `the namespace's JetStream limits leave no room for the trigger stream of ${spec.name}: ${(err as Error).message}`, { cause: err });
  }
  return NexError.from(err, "NEX_E_DEPLOY_FAILED");
}
