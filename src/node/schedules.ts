/**
 * Schedules, in the node process: every node that runs an instance of a scheduled function keeps a timer for its next
 * tick. At the tick, each of them publishes a claim to the claim stream with the id `tick:<ns>.<name>:<tick>`; the
 * first one that is not a duplicate wins and invokes its instance, so a tick runs once across all nodes (the dedupe
 * window holds on 2.9, where a replicated KV compare-and-set does not). When a node dies, the others holding an
 * instance (or the one the reconciler moves it to) win the next ticks: a schedule survives the loss of a node.
 *
 * With `noOverlap`, the winner first reads the schedule's record in NEX_SCHED; while the previous run is still going
 * (it has not finished, and its deadline has not passed), the tick is skipped and counted there.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { SCHEDULE_BUCKET, nextTick, parseSchedule, subjects, type EventData, type EventType, type Schedule } from "../contract/index.js";
import { watchAll, WATCH_CHECK_MS, type Watching } from "../nats/streams.js";
import type { TickResult } from "../runtimes/runtime.js";
import { openBucket } from "./desired.js";
import type { Instance, WorkloadManager } from "./workloads.js";

/** A run's record in NEX_SCHED (scheduled functions with `noOverlap`). */
export interface ScheduleRecord {
  /** The tick this run belongs to (epoch ms). */
  tick: number;
  node: string;
  startedAt: number;
  /** When the run is over at the latest (its timeout), even if its node died before it could say so. */
  until: number;
  finishedAt?: number;
  ok?: boolean;
  /** Ticks skipped so far because a run was still going. */
  skipped: number;
}

/** Time past a run's timeout before a run whose node went silent no longer blocks the next tick. */
const RUN_SLACK_MS = 5_000;

/** A timer this node keeps for one scheduled workload. */
interface Timer {
  key: string;
  schedule: Schedule;
  expr: string;
  next: number | undefined;
  handle: NodeJS.Timeout | undefined;
}

/** What the scheduler needs from its node. */
export interface SchedulerDeps {
  nc: NatsConnection;
  nodeId: string;
  workloads: WorkloadManager;
  emit<T extends EventType>(ns: string, type: T, data: EventData<T>): void;
  log(line: string): void;
}

/** Fires the ticks of the scheduled functions this node runs. */
export class Scheduler {
  private readonly timers = new Map<string, Timer>();
  private readonly records = new Map<string, ScheduleRecord>();
  private readonly js: JetStreamClient;
  private kv: KV | undefined;
  private watching: Watching | undefined;
  private closed = false;

  constructor(private readonly d: SchedulerDeps) {
    this.js = jetstream(d.nc, { timeout: 5_000 });
  }

  /** Opens the record bucket and follows it (for `nex ls`'s skipped count). */
  async start(): Promise<void> {
    this.kv = await openBucket(this.d.nc, SCHEDULE_BUCKET, { allowDirect: false, description: "nex-ts schedule runs" }, this.d.log);
    this.watching = await watchAll(
      this.kv,
      (e) => {
        if (e.operation !== "PUT") return void this.records.delete(e.key);
        try {
          this.records.set(e.key, e.json<ScheduleRecord>());
        } catch {
          // not ours
        }
      },
      { restart: true, checkMs: WATCH_CHECK_MS },
    );
  }

  /** Starts or stops timers to match the scheduled instances this node runs now. */
  sync(): void {
    if (this.closed) return;
    const wanted = new Map<string, Instance>();
    for (const i of this.d.workloads.all()) if (i.spec.schedule !== undefined) wanted.set(i.key, i);
    for (const [key, t] of this.timers) {
      const i = wanted.get(key);
      if (!i || i.spec.schedule !== t.expr) {
        clearTimeout(t.handle);
        this.timers.delete(key);
      }
    }
    for (const [key, i] of wanted) {
      if (this.timers.has(key)) continue;
      const t: Timer = { key, schedule: parseSchedule(i.spec.schedule!), expr: i.spec.schedule!, next: undefined, handle: undefined };
      this.timers.set(key, t);
      this.arm(t, Date.now());
    }
  }

  /** Ticks skipped because a run was still going. */
  skipped(key: string): number | undefined {
    return this.records.get(key)?.skipped;
  }

  private arm(t: Timer, after: number): void {
    t.next = nextTick(t.schedule, after);
    if (t.next === undefined) return;
    const tick = t.next;
    // Long waits are armed in steps: a timer longer than 2^31 ms would fire at once.
    const wait = Math.min(Math.max(0, tick - Date.now()), 2 ** 31 - 1);
    t.handle = setTimeout(() => {
      if (this.timers.get(t.key) !== t) return;
      if (Date.now() < tick) return this.arm(t, after);
      void this.fire(t.key, tick).catch((err: Error) => this.d.log(`warning: tick ${new Date(tick).toISOString()} of ${t.key}: ${err.message}`));
      // The next tick comes after this one, or after now if this one fired late (missed ticks are not run).
      this.arm(t, Math.max(tick, Date.now() - 1));
    }, wait);
    t.handle.unref();
  }

  /** One tick: claim it, and run it here when this node won the claim. */
  private async fire(key: string, tick: number): Promise<void> {
    const inst = this.d.workloads.of(key).find((i) => ["running", "idle"].includes(i.handle.stats().state) && i.handle.tick);
    if (!inst) return;
    const { namespace: ns, name } = inst.spec;
    const ack = await this.js.publish(subjects.tickClaim(ns, name), this.d.nodeId, { msgID: `tick:${key}:${tick}` });
    if (ack.duplicate) return;
    if (inst.spec.noOverlap && !(await this.begin(key, tick, inst.spec.timeoutMs))) {
      this.d.emit(ns, "schedule_skipped", { name, tick: new Date(tick).toISOString(), reason: "the previous run is still going" });
      return;
    }
    const started = Date.now();
    let result: TickResult;
    try {
      result = await inst.handle.tick!(new Date(tick).toISOString());
    } catch (err) {
      result = { ok: false, code: "NEX_E_FUNCTION_ERROR", message: (err as Error).message };
    }
    if (inst.spec.noOverlap) await this.finish(key, tick, started, inst.spec.timeoutMs, result.ok);
  }

  /** Records the run of `tick` as going, unless the previous run still is (then counts the skip). */
  private async begin(key: string, tick: number, timeoutMs: number): Promise<boolean> {
    const kv = this.kv;
    if (!kv) return true;
    for (let attempt = 0; attempt < 5; attempt++) {
      const e = await kv.get(key);
      const prev = e && e.operation === "PUT" ? safeJson(e.string()) : undefined;
      const now = Date.now();
      const busy = prev !== undefined && prev.tick < tick && prev.finishedAt === undefined && prev.until > now;
      const rec: ScheduleRecord = busy
        ? { ...prev, skipped: prev.skipped + 1 }
        : { tick, node: this.d.nodeId, startedAt: now, until: now + timeoutMs + RUN_SLACK_MS, skipped: prev?.skipped ?? 0 };
      try {
        if (e) await kv.update(key, JSON.stringify(rec), e.revision);
        else await kv.create(key, JSON.stringify(rec));
        this.records.set(key, rec);
        return !busy;
      } catch {
        // Someone wrote in between (the previous run finishing): read again.
      }
    }
    return true;
  }

  /** Records that the run of `tick` is over. */
  private async finish(key: string, tick: number, startedAt: number, timeoutMs: number, ok: boolean): Promise<void> {
    const kv = this.kv;
    if (!kv) return;
    for (let attempt = 0; attempt < 5; attempt++) {
      const e = await kv.get(key).catch(() => null);
      const cur = e && e.operation === "PUT" ? safeJson(e.string()) : undefined;
      // A later run took the record over: this one's end changes nothing.
      if (cur && cur.tick !== tick) return;
      const rec: ScheduleRecord = { tick, node: this.d.nodeId, startedAt, until: startedAt + timeoutMs + RUN_SLACK_MS, finishedAt: Date.now(), ok, skipped: cur?.skipped ?? 0 };
      try {
        if (e) await kv.update(key, JSON.stringify(rec), e.revision);
        else await kv.create(key, JSON.stringify(rec));
        this.records.set(key, rec);
        return;
      } catch {
        // written in between: read again
      }
    }
  }

  /** Forgets a workload's record (it was stopped by name). */
  async forget(key: string): Promise<void> {
    await this.kv?.delete(key).catch(() => undefined);
  }

  /** Stops every timer. */
  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t.handle);
    this.timers.clear();
    this.watching?.stop();
  }
}

function safeJson(s: string): ScheduleRecord | undefined {
  try {
    const v = JSON.parse(s) as ScheduleRecord;
    return typeof v.tick === "number" && typeof v.until === "number" ? { ...v, skipped: typeof v.skipped === "number" ? v.skipped : 0 } : undefined;
  } catch {
    return undefined;
  }
}
