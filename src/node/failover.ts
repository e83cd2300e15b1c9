/**
 * Moving workloads off nodes that are gone. Every node watches the others' heartbeats. When one falls silent, the
 * survivors race to claim each of its workloads; the winner places it on the best live node (an auction) and removes
 * the lost node's desired-state entry, so that node does not bring it back if it returns.
 *
 * Claims are publishes into a dedicated stream with a `Nats-Msg-Id` of `move:<workloadId>:<revision>`: JetStream's
 * duplicate window makes the first one the only non-duplicate. (On nats-server 2.9.10 a replicated KV `update()`
 * is not a safe lock, see docs/design.md.)
 *
 * Liveness guards against false alarms: a node is judged lost only while this node's own heartbeats still come back
 * (so a disconnected or stalled observer judges nobody), and every judgement is reset after a reconnect.
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { jetstream } from "@nats-io/jetstream";
import { ensureStream } from "../nats/streams.js";
import {
  CLAIM_STREAM,
  NexError,
  SYSTEM_NAMESPACE,
  isFunctionType,
  subjects,
  parseEvent,
  type DeployRequest,
  type WorkloadSpec,
} from "../contract/index.js";
import { NexClient, type DeployResult } from "../client/index.js";
import type { EventPublisher } from "./events.js";
import type { StateStore } from "./state.js";

/** Slack on top of the missed beats, for scheduling jitter and slow links. */
const SLACK_MS = 1_500;

interface Seen {
  at: number;
  intervalMs: number;
}

/** What failover needs from its node. */
export interface FailoverDeps {
  nc: NatsConnection;
  nodeId: string;
  state: StateStore;
  events: EventPublisher;
  heartbeatIntervalMs: number;
  /** How many missed heartbeats make a node lost. */
  missedBeats: number;
  /** Only a running node takes part (not one in lame duck or stopping). */
  isRunning(): boolean;
  log(line: string): void;
}

/** Creates the claim stream when it is missing. */
export async function ensureClaimStream(nc: NatsConnection): Promise<void> {
  await ensureStream(nc, {
    name: CLAIM_STREAM,
    subjects: subjects.claimStreamSubjects(),
    duplicate_window: 10 * 60 * 1e9,
    max_age: 60 * 60 * 1e9,
  });
}

/** The deploy request that recreates a workload from its stored spec. */
function requestFromSpec(spec: WorkloadSpec): DeployRequest {
  return {
    name: spec.name,
    namespace: spec.namespace,
    type: spec.type,
    location: spec.location,
    sha256: spec.sha256,
    description: spec.description,
    argv: spec.argv,
    env: spec.env,
    triggers: spec.triggers.length ? spec.triggers : undefined,
    timeoutMs: spec.timeoutMs,
    maxConcurrency: isFunctionType(spec.type) ? spec.maxConcurrency : undefined,
    memoryLimitMiB: spec.memoryLimitMiB,
    lifecycle: spec.lifecycle,
    restart: spec.restart,
    tags: spec.tags,
    noNetwork: spec.noNetwork,
    maxProcesses: spec.maxProcesses,
  };
}

/** Places a workload on the best live node other than `from`. */
export async function relocate(nc: NatsConnection, spec: WorkloadSpec): Promise<DeployResult> {
  const client = new NexClient(nc, { namespace: spec.namespace, discoveryMs: 1_000 });
  const tags = Object.keys(spec.tags).length > 0 ? spec.tags : undefined;
  return client.deploy(requestFromSpec(spec), { tags, replace: false });
}

/** Watches heartbeats and moves the workloads of lost nodes. */
export class Failover {
  private seen = new Map<string, Seen>();
  private ownEcho = Date.now();
  private subs: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = new Set<string>();
  private closed = false;

  constructor(private readonly d: FailoverDeps) {}

  /** Starts watching. */
  start(): void {
    const beat = subjects.event(SYSTEM_NAMESPACE, "node_heartbeat");
    const started = subjects.event(SYSTEM_NAMESPACE, "node_started");
    const stopped = subjects.event(SYSTEM_NAMESPACE, "node_stopped");
    for (const s of [beat, started]) this.subs.push(this.d.nc.subscribe(s, { callback: (_e, m) => this.onBeat(m.data) }));
    // A node that stops cleanly keeps its workloads for its own restart: it is not lost.
    this.subs.push(this.d.nc.subscribe(stopped, { callback: (_e, m) => this.onStopped(m.data) }));
    void this.watchStatus();
    this.timer = setInterval(() => this.check(), 500);
    this.timer.unref();
  }

  private onBeat(data: Uint8Array): void {
    const ev = parseEvent(data, "node_heartbeat") ?? parseEvent(data, "node_started");
    if (!ev) return;
    const id = ev.subject;
    if (!id) return;
    const now = Date.now();
    if (id === this.d.nodeId) {
      this.ownEcho = now;
      return;
    }
    const intervalMs = typeof ev.data.heartbeatIntervalMs === "number" ? ev.data.heartbeatIntervalMs : 10_000;
    if (ev.data.state === "stopped" || ev.data.state === "stopping") return;
    this.seen.set(id, { at: now, intervalMs });
  }

  private onStopped(data: Uint8Array): void {
    const ev = parseEvent(data, "node_stopped");
    if (ev?.subject) this.seen.delete(ev.subject);
  }

  /** After a disconnect, every silence is our own fault: start counting again. */
  private async watchStatus(): Promise<void> {
    for await (const s of this.d.nc.status()) {
      if (this.closed) return;
      if (s.type === "disconnect" || s.type === "reconnect" || s.type === "staleConnection") {
        const now = Date.now();
        this.ownEcho = now;
        for (const v of this.seen.values()) v.at = now;
      }
    }
  }

  private check(): void {
    if (this.closed || !this.d.isRunning()) return;
    const now = Date.now();
    // Blindness guard: only judge others while our own heartbeats come back to us.
    if (now - this.ownEcho > this.d.heartbeatIntervalMs * this.d.missedBeats + SLACK_MS) return;
    for (const [id, s] of this.seen) {
      if (now - s.at <= s.intervalMs * this.d.missedBeats + SLACK_MS || this.busy.has(id)) continue;
      this.seen.delete(id);
      this.busy.add(id);
      void this.takeOver(id, s).finally(() => this.busy.delete(id));
    }
  }

  /** Claims and moves every workload of a lost node. */
  private async takeOver(lost: string, s: Seen): Promise<void> {
    let entries: Awaited<ReturnType<StateStore["entries"]>>;
    try {
      entries = await this.d.state.entries(lost);
    } catch (err) {
      this.d.log(`failover: cannot read the state of lost node ${lost}: ${(err as Error).message}`);
      return;
    }
    const js = jetstream(this.d.nc, { timeout: 5_000 });
    let announced = false;
    for (const { spec, revision } of entries) {
      if (this.closed) return;
      try {
        const ack = await js.publish(subjects.claim(spec.id), this.d.nodeId, { msgID: `move:${spec.id}:${revision}` });
        if (ack.duplicate) continue;
      } catch (err) {
        this.d.log(`failover: claim for ${spec.id} failed: ${(err as Error).message}`);
        continue;
      }
      if (!announced) {
        announced = true;
        this.d.events.emit(SYSTEM_NAMESPACE, "node_lost", lost, { lostNodeId: lost, lastSeenMsAgo: Date.now() - s.at, workloads: entries.length });
      }
      await this.move(lost, spec);
    }
  }

  private async move(lost: string, spec: WorkloadSpec): Promise<void> {
    try {
      const r = await relocate(this.d.nc, spec);
      await this.d.state.remove(spec.id, lost);
      this.d.events.emit(spec.namespace, "workload_moved", r.id, { name: spec.name, type: spec.type, from: lost, to: r.nodeId, previousId: spec.id });
      this.d.log(`failover: moved ${spec.namespace}/${spec.name} from lost node ${lost} to ${r.nodeId}`);
      // If the lost node was only cut off and comes back, it must not keep running a moved workload.
      this.d.nc.publish(subjects.control(spec.namespace, "STOP", lost), JSON.stringify({ id: spec.id }));
    } catch (err) {
      const e = NexError.from(err);
      this.d.events.emit(spec.namespace, "workload_failed", spec.id, { name: spec.name, code: e.code, message: `could not move from lost node ${lost}: ${e.message}` });
    }
  }

  /** Stops watching. */
  stop(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }
}
