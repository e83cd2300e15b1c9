/**
 * Observed state, in the NEX_NODES bucket: each node's lease (`lease.<nodeId>`, rewritten every heartbeat) and each
 * instance it runs (`inst.<nodeId>.<instanceId>`, written when it starts or changes state, removed when it stops).
 * Every node watches the whole bucket, so one that just started knows at once who is up and what runs where.
 *
 * Liveness comes from the leases' server timestamps: a node is lost once its lease is older than its missed-beats
 * bound. A blindness guard keeps an observer from judging anyone while it is itself cut off: it judges only while its
 * own lease comes back to it (a watch can go quiet for 6-18 s when a server dies). The observer measures the offset
 * between the server's clock and its own from that echo.
 */
import type { KV, KvEntry } from "@nats-io/kv";
import { subjects, type NodeState, type WorkloadState } from "../contract/index.js";
import { WATCH_CHECK_MS, watchAll, type Watching } from "../nats/streams.js";

/** What a node says about itself. */
export interface LeaseData {
  v: 1;
  nodeId: string;
  name: string;
  state: NodeState | "draining";
  intervalMs: number;
  tags: Record<string, string>;
  types: string[];
  sandbox: boolean;
  namespaces: string[] | "*";
  /** A cleanly stopped node: its instances are kept for it until then, so a restart brings them back unmoved. */
  graceUntil?: string;
}

/** One instance a node runs. */
export interface InstanceData {
  v: 1;
  key: string;
  namespace: string;
  name: string;
  id: string;
  generation: number;
  state: WorkloadState;
  startedAt: string;
}

interface Seen {
  data: LeaseData;
  /** Local time of the lease's last write (server time plus the measured offset). */
  at: number;
}

/** Slack on top of the missed beats, for scheduling jitter and slow links. */
const SLACK_MS = 1_500;

/** Instance states that count as present. */
export const PRESENT: ReadonlySet<WorkloadState> = new Set(["starting", "running", "idle", "backoff"]);

/** The observed state of every node, kept current by one watch. */
export class Leases {
  private readonly leases = new Map<string, Seen>();
  private readonly instances = new Map<string, Map<string, InstanceData>>();
  /** The same instances by workload key, so a reconcile pass over many workloads stays linear. */
  private readonly byKey = new Map<string, Map<string, { nodeId: string; inst: InstanceData }>>();
  private ownEcho = Date.now();
  /** Local clock minus the server's, measured on our own lease's echo. */
  private offset = 0;
  private watching: Watching | undefined;
  private restarting = false;
  private onChange: () => void = () => undefined;

  constructor(
    private readonly kv: KV,
    private readonly nodeId: string,
    private readonly missedBeats: number,
  ) {}

  /** Starts watching; resolves once the bucket's current content is loaded (or after 10 s, whatever came by then). */
  async start(onChange: () => void): Promise<void> {
    this.onChange = onChange;
    this.watching = await watchAll(this.kv, (e) => this.apply(e), { restart: true, checkMs: WATCH_CHECK_MS });
    await Promise.race([this.watching.loaded, new Promise((r) => setTimeout(r, 10_000).unref())]);
  }

  /** Resolves when the watch ended (the bucket went away, or stop()). */
  get ended(): Promise<void> {
    return this.watching?.ended ?? Promise.resolve();
  }

  private apply(e: KvEntry): void {
    const k = subjects.parseNodesKey(e.key);
    if (!k) return;
    const deleted = e.operation !== "PUT";
    if (k.kind === "lease") {
      if (deleted) {
        this.leases.delete(k.nodeId);
      } else {
        let data: LeaseData;
        try {
          data = e.json<LeaseData>();
        } catch {
          return;
        }
        const serverMs = e.created.getTime();
        if (k.nodeId === this.nodeId) {
          this.offset = Date.now() - serverMs;
          this.ownEcho = Date.now();
        }
        this.leases.set(k.nodeId, { data, at: serverMs + this.offset });
      }
    } else {
      let m = this.instances.get(k.nodeId);
      const old = m?.get(k.id);
      if (old) this.byKey.get(old.key)?.delete(`${k.nodeId}.${k.id}`);
      if (deleted) {
        m?.delete(k.id);
      } else {
        let d: InstanceData;
        try {
          d = e.json<InstanceData>();
        } catch {
          return;
        }
        if (!m) this.instances.set(k.nodeId, (m = new Map()));
        m.set(k.id, d);
        let byKey = this.byKey.get(d.key);
        if (!byKey) this.byKey.set(d.key, (byKey = new Map()));
        byKey.set(`${k.nodeId}.${k.id}`, { nodeId: k.nodeId, inst: d });
      }
    }
    this.onChange();
  }

  /** After a disconnect every silence is our own: count again from now. */
  resetClock(): void {
    const now = Date.now();
    this.ownEcho = now;
    for (const s of this.leases.values()) s.at = Math.max(s.at, now);
  }

  /** True while this node's own lease comes back to it: only then does it judge others. */
  seeing(): boolean {
    const own = this.leases.get(this.nodeId);
    const interval = own?.data.intervalMs ?? 10_000;
    return Date.now() - this.ownEcho <= interval * this.missedBeats + SLACK_MS;
  }

  /** Whether node `id` is up: its lease is fresh (or this node cannot tell, being blind). */
  alive(id: string): boolean {
    if (id === this.nodeId) return true;
    const s = this.leases.get(id);
    if (!s) return false;
    if (s.data.state === "stopped") return false;
    if (!this.seeing()) return true;
    return Date.now() - s.at <= s.data.intervalMs * this.missedBeats + SLACK_MS;
  }

  /** Whether the instances of node `id` still count: it is alive, or it stopped cleanly and is within its grace. */
  holds(id: string): boolean {
    if (this.alive(id)) return true;
    const grace = this.leases.get(id)?.data.graceUntil;
    return grace !== undefined && Date.parse(grace) > Date.now();
  }

  /** The lease of a node, if any. */
  lease(id: string): LeaseData | undefined {
    return this.leases.get(id)?.data;
  }

  /** Every node with a lease. */
  nodes(): string[] {
    return [...this.leases.keys()];
  }

  /** Every node that is up. */
  liveNodes(): LeaseData[] {
    return [...this.leases.keys()].filter((id) => this.alive(id)).map((id) => this.leases.get(id)!.data);
  }

  /** Every node ever seen with a lease in the bucket (trusted as a writer of desired state). */
  known(id: string): boolean {
    return this.leases.has(id);
  }

  /** Nodes whose lease is older than `ms` (for garbage collection of what they left). */
  longGone(ms: number): string[] {
    const now = Date.now();
    return [...this.leases.entries()].filter(([id, s]) => id !== this.nodeId && now - s.at > ms && !this.holds(id)).map(([id]) => id);
  }

  /** The present instances of workload `key` on nodes whose instances count. */
  instancesOf(key: string): { nodeId: string; inst: InstanceData }[] {
    const out: { nodeId: string; inst: InstanceData }[] = [];
    for (const x of this.byKey.get(key)?.values() ?? []) if (PRESENT.has(x.inst.state) && this.holds(x.nodeId)) out.push(x);
    return out;
  }

  /** The instances a node had recorded (its own, on restart). */
  recordedBy(nodeId: string): InstanceData[] {
    return [...(this.instances.get(nodeId)?.values() ?? [])];
  }

  /**
   * Writes this node's lease. When the writes succeed but their echo has not come back for a few beats, the watch is
   * stuck (its consumer sat on a server that died): it is started again rather than waiting for the client to notice.
   */
  async publish(data: LeaseData): Promise<void> {
    await this.kv.put(subjects.leaseKey(this.nodeId), JSON.stringify(data));
    const silent = Date.now() - this.ownEcho;
    if (silent > data.intervalMs * this.missedBeats && !this.restarting && this.watching) {
      this.restarting = true;
      try {
        this.watching.stop();
        this.watching = await watchAll(this.kv, (e) => this.apply(e), { restart: true, checkMs: WATCH_CHECK_MS });
      } finally {
        this.restarting = false;
      }
    }
  }

  /** Records (or updates) an instance of this node. */
  async putInstance(d: InstanceData): Promise<void> {
    await this.kv.put(subjects.instanceKey(this.nodeId, d.id), JSON.stringify(d));
  }

  /** Forgets an instance of this node (or of a long-gone node). */
  async removeInstance(id: string, nodeId = this.nodeId): Promise<void> {
    await this.kv.purge(subjects.instanceKey(nodeId, id));
  }

  /** Forgets a long-gone node's lease. */
  async removeLease(nodeId: string): Promise<void> {
    await this.kv.purge(subjects.leaseKey(nodeId));
  }

  /** Stops watching. */
  stop(): void {
    this.watching?.stop();
  }
}
