/**
 * The reconciler: every node compares desired state (desired.ts) with what runs (leases.ts) and acts, on every change
 * it sees and on a timer, until the two agree. It is leaderless:
 *
 * - what a node can decide alone, it does alone: it stops its own instances that nobody wants any more (ghosts), that
 *   belong to an older deploy (replaced in place, new before old), or that are one too many (extras, ranked the same
 *   way on every node, and only once the excess has lasted a moment, so two nodes never both give way);
 * - what needs exactly one actor (placing a missing replica) goes through a claim: a publish into NEX_CLAIMS whose
 *   `Nats-Msg-Id` names the workload, its generation, the replica slot and a 10 s epoch. JetStream's duplicate window
 *   makes one PubAck non-duplicate; that node runs an auction and sends PLACE to the winner, and announces the
 *   placement so the others count it while it starts. (A replicated KV `update()` is not a lock on nats-server 2.9.)
 *   A failed placement is tried again in the next epoch; a rare double placement at an epoch boundary is an extra.
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { KvEntry } from "@nats-io/kv";
import { NexError, STATE_BUCKET, SYSTEM_NAMESPACE, durableTriggers, nextTick, parseSchedule, subjects, type DesiredSummary } from "../contract/index.js";
import { NexClient } from "../client/index.js";
import { WATCH_CHECK_MS, watchAll, type Watching } from "../nats/streams.js";
import { isStreamNotFound } from "../nats/errors.js";
import type { Desired, DesiredStore } from "./desired.js";
import { isRefusal, openBucket, type WorkloadTemplate } from "./desired.js";
import type { EventPublisher } from "./events.js";
import { PRESENT, type LeaseData, type Leases } from "./leases.js";
import type { Instance, WorkloadManager } from "./workloads.js";

/** How long a claim epoch lasts: a failed placement is tried again in the next one. */
const EPOCH_MS = 10_000;
/** How long an announced placement counts before its instance shows up. */
const PENDING_MS = 15_000;
/** How long an excess must last before a node gives way. */
const EXTRA_GRACE_MS = 1_500;
/** Long-gone nodes' records are cleared after this. */
const GC_AFTER_MS = 3_600_000;

/** What the reconciler needs from its node. */
export interface ReconcilerDeps {
  nc: NatsConnection;
  nodeId: string;
  desired: DesiredStore;
  leases: Leases;
  workloads: WorkloadManager;
  events: EventPublisher;
  /** This node's current lease data (its state, tags, what it runs). */
  self(): LeaseData;
  /** Why this node cannot run `t`, or undefined when it can. */
  cannotRun(t: WorkloadTemplate): string | undefined;
  intervalMs: number;
  /** Ticks of a scheduled workload skipped as overlapping, when known. */
  skippedTicks?(key: string): number | undefined;
  log(line: string): void;
}

interface Candidate {
  nodeId: string;
  id: string;
  startedAt: string;
  draining: boolean;
}

/** Keeps desired and actual state the same, from this node's side. */
export class Reconciler {
  private readonly cache = new Map<string, Desired>();
  private readonly raw = new Map<string, string>();
  private readonly reported = new Set<string>();
  private readonly pending = new Map<string, { gen: number; node: string; until: number }[]>();
  private readonly excess = new Map<string, number>();
  private readonly placing = new Set<string>();
  private readonly lostSeen = new Set<string>();
  private loaded = false;
  private storeLost = false;
  private watching: Watching | undefined;
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private kickTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private readonly js: JetStreamClient;
  private lastGc = 0;

  constructor(private readonly d: ReconcilerDeps) {
    this.js = jetstream(d.nc, { timeout: 5_000 });
  }

  /** Loads desired state and starts acting on it. */
  async start(): Promise<void> {
    await this.watchDesired();
    this.sub = this.d.nc.subscribe(subjects.placingAll(), { callback: (err, m) => (err ? undefined : this.onPlacing(m.data)) });
    this.timer = setInterval(() => this.kick(0), this.d.intervalMs);
    this.timer.unref();
  }

  private async watchDesired(): Promise<void> {
    this.watching?.stop();
    this.watching = await watchAll(this.d.desired.bucket, (e) => this.onDesired(e), { restart: true, checkMs: WATCH_CHECK_MS });
    await Promise.race([this.watching.loaded, new Promise((r) => setTimeout(r, 10_000).unref())]);
    this.loaded = true;
  }

  private onDesired(e: KvEntry): void {
    if (e.operation !== "PUT") {
      this.cache.delete(e.key);
      this.raw.delete(e.key);
    } else {
      const r = this.d.desired.decode(e);
      if (isRefusal(r)) {
        this.cache.delete(e.key);
        this.refuse(e.key, e.revision, r.reason);
      } else {
        this.cache.set(e.key, r);
        this.raw.set(e.key, e.string());
      }
    }
    this.kick();
  }

  /** Reports a refused entry once per revision: it is never run. */
  private refuse(key: string, revision: number, reason: string): void {
    const tag = `${key}@${revision}`;
    if (this.reported.has(tag)) return;
    this.reported.add(tag);
    const k = subjects.parseDesiredKey(key);
    this.d.log(`warning: refusing desired state ${key}: ${reason}`);
    this.d.events.emit(k?.namespace ?? SYSTEM_NAMESPACE, "workload_refused", undefined, { name: k?.name ?? key, reason });
  }

  private onPlacing(data: Uint8Array): void {
    try {
      const p = JSON.parse(new TextDecoder().decode(data)) as { key: string; gen: number; node: string };
      const list = this.pending.get(p.key) ?? [];
      list.push({ gen: p.gen, node: p.node, until: Date.now() + PENDING_MS });
      this.pending.set(p.key, list);
    } catch {
      // not ours
    }
  }

  /**
   * Tells every node that this one is about to start an instance of `key` at `gen`, so they count it while it starts
   * instead of placing another (a deploy, or an in-place replacement).
   */
  announce(ns: string, name: string, gen: number): void {
    const key = subjects.desiredKey(ns, name);
    this.d.nc.publish(subjects.placing(ns, name), JSON.stringify({ key, gen, node: this.d.nodeId }));
  }

  /** The desired entry of a workload, as this node's copy of the store has it. */
  get(key: string): Desired | undefined {
    return this.cache.get(key);
  }

  /** The raw stored value of a desired entry (to put back after a failed deploy). */
  rawOf(key: string): string | undefined {
    return this.raw.get(key);
  }

  /** The desired workloads of a namespace. */
  summaries(ns: string): DesiredSummary[] {
    const out: DesiredSummary[] = [];
    for (const d of this.cache.values()) {
      const t = d.template;
      if (t.namespace !== ns) continue;
      const s: DesiredSummary = { name: t.name, namespace: t.namespace, type: t.type, replicas: t.replicas, spread: t.spread, generation: t.generation, triggers: t.triggers, createdAt: t.createdAt };
      if (d.done) s.done = d.done;
      const durable = durableTriggers(t);
      if (durable.length > 0) s.durable = durable;
      if (t.schedule !== undefined) {
        s.schedule = t.schedule;
        const next = scheduleNext(t.schedule);
        if (next) s.nextRun = next;
        const skipped = this.d.skippedTicks?.(d.key);
        if (skipped !== undefined) s.skippedTicks = skipped;
      }
      out.push(s);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** True when the state store was found gone (and not made again yet). */
  get lost(): boolean {
    return this.storeLost;
  }

  /** Schedules a pass (soon, coalescing bursts of changes). */
  kick(delayMs = 50): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.kickTimer) return;
    this.kickTimer = setTimeout(() => {
      this.kickTimer = undefined;
      this.running = this.pass()
        .catch((err: unknown) => this.d.log(`warning: reconcile pass failed: ${(err as Error).message}`))
        .finally(() => {
          this.running = undefined;
          if (this.again) {
            this.again = false;
            this.kick();
          }
        });
    }, delayMs);
    this.kickTimer.unref();
  }

  private async pass(): Promise<void> {
    if (!this.loaded || this.closed) return;
    const me = this.d.self();
    if (me.state !== "running" && me.state !== "lameduck" && me.state !== "draining") return;
    // Counters half a pass interval old are fresh enough to judge which instances are present.
    await this.d.workloads.refresh(this.d.intervalMs / 2);
    const keys = new Set<string>([...this.cache.keys(), ...this.d.workloads.all().map((i) => i.key)]);
    for (const key of keys) await this.d.workloads.serialized(key, () => this.reconcile(key, me));
    this.judgeNodes();
    if (Date.now() - this.lastGc > 60_000) await this.gc();
  }

  /** One workload: the heart of it. */
  private async reconcile(key: string, me: LeaseData): Promise<void> {
    const d = this.cache.get(key);
    const mine = this.d.workloads.of(key);
    if (!d) {
      // Nobody wants it any more: a ghost. Unless the store itself is gone, in which case nothing is forgotten.
      if (!this.storeLost) for (const i of mine) await this.stopMine(i, "no longer desired");
      return;
    }
    const t = d.template;
    if (d.done) return;
    const present = mine.filter((i) => PRESENT.has(i.handle.stats().state));
    for (const i of present.filter((i) => i.spec.generation !== t.generation)) await this.replace(i, d, me);
    const countable = this.countable(key, t.generation, me);
    const pending = this.pendingCount(key, t.generation);
    const missing = t.replicas - countable.length - pending;
    if (missing > 0 && me.state === "running" && this.d.leases.seeing()) this.place(d, countable, missing);
    if (me.state === "draining") {
      // A draining node gives way once the others hold enough.
      if (countable.length >= t.replicas) for (const i of mine) await this.stopMine(i, "moved off a draining node");
      return;
    }
    this.dropExtras(key, t.replicas, t.spread, countable);
  }

  /** Current-generation instances that count: on nodes that hold theirs, and not draining. */
  private countable(key: string, gen: number, me: LeaseData): Candidate[] {
    const out: Candidate[] = [];
    for (const { nodeId, inst } of this.d.leases.instancesOf(key)) {
      if (nodeId === this.d.nodeId || inst.generation !== gen) continue;
      const draining = this.d.leases.lease(nodeId)?.state === "draining";
      if (!draining) out.push({ nodeId, id: inst.id, startedAt: inst.startedAt, draining });
    }
    if (me.state !== "draining") {
      for (const i of this.d.workloads.of(key)) {
        if (i.spec.generation === gen && PRESENT.has(i.handle.stats().state)) out.push({ nodeId: this.d.nodeId, id: i.spec.id, startedAt: i.startedAt, draining: false });
      }
    }
    return out;
  }

  /** Announced placements of `key` at `gen` whose instance has not shown up yet. */
  private pendingCount(key: string, gen: number): number {
    const now = Date.now();
    const shown = new Set(this.d.leases.instancesOf(key).filter((x) => x.inst.generation === gen).map((x) => x.nodeId));
    for (const i of this.d.workloads.of(key)) if (i.spec.generation === gen) shown.add(this.d.nodeId);
    const list = (this.pending.get(key) ?? []).filter((p) => p.until > now && p.gen === gen && !shown.has(p.node));
    if (list.length) this.pending.set(key, list);
    else this.pending.delete(key);
    return list.length;
  }

  /** An instance of an older (or newer) deploy: replaced in place when this node may run the new one, else stopped. */
  private async replace(old: Instance, d: Desired, me: LeaseData): Promise<void> {
    const t = d.template;
    const countable = this.countable(d.key, t.generation, me);
    if (me.state === "running" && countable.length + this.pendingCount(d.key, t.generation) < t.replicas && this.d.cannotRun(t) === undefined) {
      try {
        this.announce(t.namespace, t.name, t.generation);
        await this.d.workloads.start(t, { event: "placed" });
      } catch (err) {
        this.d.log(`warning: could not replace ${d.key} in place: ${(err as Error).message}`);
      }
    }
    await this.stopMine(old, `replaced by generation ${t.generation}`);
  }

  /** Ranks instances the same way on every node; the ones past `replicas` are extras, and each node stops its own. */
  private dropExtras(key: string, replicas: number, spread: boolean, countable: Candidate[]): void {
    const perNode = new Map<string, number>();
    const ranked = [...countable]
      .sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id))
      .map((c) => {
        const n = perNode.get(c.nodeId) ?? 0;
        perNode.set(c.nodeId, n + 1);
        return { c, dup: n };
      })
      .sort((a, b) => a.dup - b.dup || a.c.startedAt.localeCompare(b.c.startedAt) || a.c.id.localeCompare(b.c.id));
    const extras = ranked.filter((r, i) => i >= replicas || (spread && r.dup > 0)).map((r) => r.c);
    if (extras.length === 0) {
      this.excess.delete(key);
      return;
    }
    const since = this.excess.get(key);
    if (since === undefined) {
      this.excess.set(key, Date.now());
      this.kick(EXTRA_GRACE_MS + 100);
      return;
    }
    if (Date.now() - since < EXTRA_GRACE_MS) return;
    for (const x of extras) {
      if (x.nodeId !== this.d.nodeId) continue;
      const inst = this.d.workloads.get(x.id);
      if (inst) void this.stopMine(inst, "extra replica");
    }
    this.excess.delete(key);
  }

  private async stopMine(i: Instance, reason: string): Promise<void> {
    await this.d.workloads.stop(i.spec.id, reason);
  }

  /** Claims and places missing replicas, in the background (one placement per workload at a time). */
  private place(d: Desired, countable: Candidate[], missing: number): void {
    const t = d.template;
    if (this.placing.has(d.key)) return;
    this.placing.add(d.key);
    void (async () => {
      try {
        const epoch = Math.floor(Date.now() / EPOCH_MS);
        for (let i = 0; i < missing; i++) {
          const slot = countable.length + this.pendingCount(d.key, t.generation) + i;
          const msgID = `place:${d.key}:${t.generation}:${slot}:${epoch}`;
          const ack = await this.js.publish(subjects.claim(t.namespace, t.name), this.d.nodeId, { msgID });
          if (ack.duplicate) continue;
          await this.placeOne(d, countable);
        }
      } catch (err) {
        this.d.log(`warning: placing ${d.key} failed: ${(err as Error).message}`);
      } finally {
        this.placing.delete(d.key);
      }
    })();
  }

  private async placeOne(d: Desired, countable: Candidate[]): Promise<void> {
    const t = d.template;
    const client = new NexClient(this.d.nc, { namespace: t.namespace, discoveryMs: 500, stallMs: 100 });
    const holders = [...new Set(countable.map((c) => c.nodeId))];
    const tags = Object.keys(t.tags).length > 0 ? t.tags : undefined;
    // Only nodes that can hold the spec's limits bid.
    const limits = { memoryLimitMiB: t.memoryLimitMiB, timeoutMs: t.timeoutMs, maxProcesses: t.maxProcesses, cpus: t.cpus };
    const base = { ...limits, sandbox: t.sandboxed || undefined };
    let bids = await client.auction(t.type, tags, { ...base, exclude: holders });
    // Replicas prefer distinct nodes; unless told to spread, they share one when there is no other.
    if (bids.length === 0 && !t.spread) bids = await client.auction(t.type, tags, base);
    const target = bids[0]?.node.nodeId;
    if (!target) {
      this.d.events.emit(t.namespace, "workload_failed", undefined, { name: t.name, type: t.type, code: "NEX_E_NO_NODES", message: `no node can take another replica of ${t.name}` });
      return;
    }
    this.d.nc.publish(subjects.placing(t.namespace, t.name), JSON.stringify({ key: d.key, gen: t.generation, node: target }));
    await this.d.nc.flush();
    try {
      const r = await client.request<{ id: string }>("PLACE", target, { name: t.name, generation: t.generation }, 60_000);
      this.d.events.emit(t.namespace, "workload_placed", r.id, { name: t.name, type: t.type, generation: t.generation, to: target, by: this.d.nodeId });
      // A replica that replaces one on a lost node is a move.
      const lost = this.lostInstance(d.key, t.generation);
      if (lost) this.d.events.emit(t.namespace, "workload_moved", r.id, { name: t.name, type: t.type, from: lost.nodeId, to: target, previousId: lost.id });
    } catch (err) {
      const e = NexError.from(err);
      this.d.events.emit(t.namespace, "workload_failed", undefined, { name: t.name, type: t.type, code: e.code, message: `placing a replica on ${target} failed: ${e.message}` });
    }
  }

  /** An instance of `key` at `gen` that sat on a node now lost (the one a new replica replaces). */
  private lostInstance(key: string, gen: number): { nodeId: string; id: string } | undefined {
    for (const id of this.d.leases.nodes()) {
      if (this.d.leases.holds(id)) continue;
      const inst = this.d.leases.recordedBy(id).find((i) => i.key === key && i.generation === gen);
      if (inst) return { nodeId: id, id: inst.id };
    }
    return undefined;
  }

  /** Announces each node found lost, once (a claim picks the announcer). */
  private judgeNodes(): void {
    if (!this.d.leases.seeing()) return;
    for (const l of [...this.lostSeen]) if (this.d.leases.alive(l)) this.lostSeen.delete(l);
    for (const id of this.candidatesLost()) {
      if (this.lostSeen.has(id)) continue;
      this.lostSeen.add(id);
      void this.js
        .publish(subjects.claim(SYSTEM_NAMESPACE, "lost"), this.d.nodeId, { msgID: `lost:${id}:${Math.floor(Date.now() / 60_000)}` })
        .then((ack) => {
          if (!ack.duplicate) this.d.events.emit(SYSTEM_NAMESPACE, "node_lost", id, { lostNodeId: id, lastSeenMsAgo: 0, workloads: this.d.leases.recordedBy(id).length });
        })
        .catch(() => undefined);
    }
  }

  /** Nodes that went silent without stopping, while holding instances. */
  private candidatesLost(): string[] {
    return this.d.leases.nodes().filter((id) => {
      const l = this.d.leases.lease(id);
      return l !== undefined && l.state !== "stopped" && !this.d.leases.alive(id) && this.d.leases.recordedBy(id).length > 0;
    });
  }

  /** Clears what long-gone nodes left behind (idempotent: any node may do it). */
  private async gc(): Promise<void> {
    this.lastGc = Date.now();
    for (const id of this.d.leases.longGone(GC_AFTER_MS)) {
      for (const inst of this.d.leases.recordedBy(id)) await this.d.leases.removeInstance(inst.id, id).catch(() => undefined);
      await this.d.leases.removeLease(id).catch(() => undefined);
    }
  }

  /**
   * Checks that the state store still exists. When it is gone the node says so loudly, keeps running what it has,
   * makes the bucket again and puts back every entry it knew, as they were signed.
   */
  async checkStore(): Promise<void> {
    try {
      await this.d.desired.bucket.status();
      return;
    } catch (err) {
      if (!isStreamNotFound(err)) return;
    }
    if (!this.storeLost) {
      this.storeLost = true;
      this.d.log(`error: the desired-state bucket is gone; keeping ${this.d.workloads.count} instance(s) running and putting back ${this.raw.size} known workload(s)`);
      this.d.events.emit(SYSTEM_NAMESPACE, "state_store_lost", this.d.nodeId, { instances: this.d.workloads.count, known: this.raw.size });
    }
    try {
      const kv = await openBucket(this.d.nc, STATE_BUCKET, { allowDirect: false, description: "nex-ts desired state" }, this.d.log);
      this.d.desired.reopen(kv);
      for (const [key, value] of this.raw) await kv.create(key, value).catch(() => undefined);
      await this.watchDesired();
      this.storeLost = false;
      this.d.events.emit(SYSTEM_NAMESPACE, "state_store_restored", this.d.nodeId, { restored: this.raw.size });
      this.d.log("the desired-state bucket is back");
    } catch (err) {
      this.d.log(`warning: could not make the desired-state bucket again: ${(err as Error).message}`);
    }
  }

  /** Stops acting. */
  async stop(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.kickTimer);
    this.watching?.stop();
    this.sub?.unsubscribe();
    await this.running;
  }
}

/** The next tick of a schedule (ISO time), or undefined. */
function scheduleNext(expr: string): string | undefined {
  try {
    const n = nextTick(parseSchedule(expr), Date.now());
    return n === undefined ? undefined : new Date(n).toISOString();
  } catch {
    return undefined;
  }
}
