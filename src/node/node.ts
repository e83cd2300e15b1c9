/**
 * A nex node: the control plane of one host. It answers the control API, keeps desired state in KV, fetches and
 * verifies artifacts, supervises runtimes, and publishes events and heartbeats.
 *
 * ```ts
 * const node = await NexNode.start({ connection: resolveConnection({}) });
 * await node.stop();
 * ```
 */
import { cpus, freemem, loadavg } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Service } from "@nats-io/services";
import {
  DEFAULT_NAMESPACE,
  NODES_BUCKET,
  NexError,
  SYSTEM_NAMESPACE,
  VERSION,
  decode,
  parseBody,
  subjects,
  type AuctionRequest,
  type Bid,
  type EventData,
  type HeartbeatData,
  type EventType,
  type InspectReply,
  type LameduckReply,
  type ListReply,
  type NodeInfo,
  type NodeState,
  type NodeSummary,
  type DesiredSummary,
  type WorkloadSummary,
} from "../contract/index.js";
import { connectNats } from "../nats/connect.js";
import { JsCodes, isJetStreamNotServed, isTimeout, jsApiCode } from "../nats/errors.js";
import { keyPair } from "../nats/nkeys.js";
import { ensureStream } from "../nats/streams.js";
import type { NodeMetrics } from "../observe/metrics.js";
import { startMetricsServer, type MetricsServer } from "../observe/server.js";
import type { RuntimeHost } from "../runtimes/runtime.js";
import { createRuntimes } from "../runtimes/registry.js";
import { ArtifactStore } from "./artifacts.js";
import { DECLINE, startControlService, type ControlHandlers } from "./control.js";
import { DesiredStore, isRefusal, openBucket, type WorkloadTemplate } from "./desired.js";
import { EventPublisher, ensureFeedStream } from "./events.js";
import { loadIdentity, type NodeIdentity } from "./identity.js";
import { DurableTriggers } from "./durable.js";
import { Leases, type LeaseData } from "./leases.js";
import { Scheduler } from "./schedules.js";
import { Operations } from "./operations.js";
import { metricsSource, sampleOf } from "./metrics.js";
import { resolveNodeOptions, type NodeOptions, type ResolvedNodeOptions } from "./options.js";
import { capDefaults, overMaximum, unsupportedLimit } from "./limits.js";
import { Reconciler } from "./reconciler.js";
import { Tenancy, type Origin } from "./tenancy.js";
import { automaticTags, tagsMatch } from "./tags.js";
import { WorkloadManager, type Instance } from "./workloads.js";

/** The control-plane stores a node works with; absent when JetStream is unavailable. */
interface Stores {
  desired: DesiredStore;
  leases: Leases;
  durable: DurableTriggers;
}

/** Set once the node exists: the scheduler is told when instances come and go. */
interface Late {
  scheduler?: Scheduler;
}

/** Records in desired state that a job ran to completion (unless its workload was redeployed or removed meanwhile). */
async function markJobDone(desired: DesiredStore, inst: Instance, exitCode: number): Promise<void> {
  const d = await desired.get(inst.key);
  if (!d || isRefusal(d) || d.done || d.template.generation !== inst.spec.generation) return;
  await desired.put(d.template, { exitCode, at: new Date().toISOString() });
}

/** How long a starting node waits for a JetStream that times out before it runs without one. */
const JETSTREAM_WAIT_MS = 60_000;

/**
 * A JetStream failure that passes: a timeout (no stream leader yet), the cluster saying it is not available now, or,
 * once JetStream has answered or timed out before (`seen`), nobody serving its API for a moment (a server restarting).
 */
function jetStreamBusy(err: unknown, seen: boolean): boolean {
  return isTimeout(err) || jsApiCode(err) === JsCodes.ClusterNotAvailable || (seen && isJetStreamNotServed(err));
}

/** Runs `step` again while JetStream is busy, until `until`; then, or on any other failure, throws. */
async function whileJetStreamBusy<T>(step: () => Promise<T>, until: number, log: (line: string) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (!jetStreamBusy(err, true) || Date.now() >= until) throw err;
      log(`warning: JetStream did not answer (${(err as Error).message}); trying again`);
      await new Promise((r) => setTimeout(r, Math.min(5_000, 500 * attempt)));
    }
  }
}

/** The largest message when the server does not say (nats-server's default max_payload). */
const DEFAULT_MAX_PAYLOAD = 1_048_576;
/** Room left in a control reply for what the service framework adds. */
const REPLY_MARGIN = 4_096;

/**
 * The page of a LIST reply that starts at `offset` of its workloads followed by its desired workloads, and fits in
 * `maxBytes` of JSON (at least one entry, so that paging always moves on); `next` says where the rest starts.
 */
export function listPage(full: ListReply, offset: number, maxBytes: number): ListReply {
  const items: (WorkloadSummary | DesiredSummary)[] = [...full.workloads, ...(full.desired ?? [])];
  const envelope = { ...full, workloads: [], ...(full.desired ? { desired: [] } : {}), next: Number.MAX_SAFE_INTEGER };
  let size = Buffer.byteLength(JSON.stringify(envelope));
  if (offset === 0 && size + Buffer.byteLength(JSON.stringify(items)) <= maxBytes) return full;
  let end = offset;
  for (; end < items.length; end++) {
    size += Buffer.byteLength(JSON.stringify(items[end])) + 1;
    if (size > maxBytes && end > offset) break;
  }
  const w = full.workloads.length;
  const page: ListReply = { ...full, workloads: full.workloads.slice(Math.min(offset, w), Math.min(end, w)) };
  if (full.desired) page.desired = full.desired.slice(Math.max(0, offset - w), Math.max(0, end - w));
  if (end < items.length) page.next = end;
  return page;
}

/** Creates the claim stream when it is missing. */
async function ensureClaimStream(nc: NatsConnection, log: (line: string) => void): Promise<void> {
  await ensureStream(nc, { name: "NEX_CLAIMS", subjects: subjects.claimStreamSubjects(), duplicate_window: 2 * 60 * 1e9, max_age: 60 * 60 * 1e9 }, log);
}

/** A running node. */
export class NexNode {
  private state: NodeState = "starting";
  private readonly startedAt = new Date();
  private service: Service | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private lameduckTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  /** After lame duck's delay: others place this node's workloads elsewhere, and it gives them up as they do. */
  private draining = false;
  /** The workloads were moved away, so a stop keeps nothing for a restart. */
  private drained = false;
  private reconciler: Reconciler | undefined;
  /** Fires the ticks of scheduled functions (with JetStream only). */
  readonly scheduler: Scheduler | undefined;
  private storeTimer: NodeJS.Timeout | undefined;
  private readonly ops: Operations;
  private readonly stoppedHooks: (() => void)[] = [];
  private metricsServer: MetricsServer | undefined;

  private constructor(
    readonly opts: ResolvedNodeOptions,
    readonly identity: NodeIdentity,
    readonly nc: NatsConnection,
    private readonly tenancy: Tenancy,
    private readonly events: EventPublisher,
    private readonly workloads: WorkloadManager,
    private readonly runtimes: Awaited<ReturnType<typeof createRuntimes>>,
    readonly tags: Record<string, string>,
    private readonly stores: Stores | undefined,
    artifacts: ArtifactStore,
    private readonly log: (line: string) => void,
    private readonly metrics: NodeMetrics | undefined,
  ) {
    if (stores) {
      this.scheduler = new Scheduler({
        nc,
        nodeId: identity.id,
        workloads,
        emit: (ns, type, data) => events.emit(ns, type, undefined, data),
        log,
      });
      const scheduler = this.scheduler;
      this.reconciler = new Reconciler({
        nc,
        nodeId: identity.id,
        desired: stores.desired,
        leases: stores.leases,
        workloads,
        events,
        self: () => this.leaseData(),
        cannotRun: (t) => this.cannotRun(t),
        intervalMs: opts.reconcileIntervalMs,
        skippedTicks: (key) => scheduler.skipped(key),
        log,
      });
    }
    this.ops = new Operations({
      nc,
      nodeId: identity.id,
      sandbox: opts.sandbox,
      desired: stores?.desired,
      leases: stores?.leases,
      reconciler: this.reconciler,
      workloads,
      artifacts,
      durable: stores?.durable,
      cannotRun: (t) => this.cannotRun(t),
    });
  }

  /** The node's public id (an nkey). */
  get id(): string {
    return this.identity.id;
  }

  /** Where Prometheus scrapes this node, when it serves metrics. */
  get metricsUrl(): string | undefined {
    return this.metricsServer?.url;
  }

  /** Connects, restores desired state, and starts answering the control API. */
  static async start(options: NodeOptions, log: (line: string) => void = () => undefined): Promise<NexNode> {
    const opts = resolveNodeOptions(options);
    const identity = loadIdentity(opts.seedFile);
    const nc = await connectNats(opts.connection, `nex-node-${opts.name}`, true);
    const reconnects = countReconnects(nc);
    try {
      let jetstream = true;
      const tenancy = Tenancy.start({
        nc,
        connection: opts.connection,
        nodeId: identity.id,
        accountsDir: opts.authHome ? join(opts.authHome, "auth", "accounts") : undefined,
        namespaceKeyFiles: opts.namespaceKeys,
        insecure: opts.insecure,
        prepare: async (ns, conn) => {
          if (jetstream) await ensureFeedStream(conn, ns, opts.feedBytes);
        },
        log,
      });
      const events = new EventPublisher((ns) => tenancy.agent(ns), identity.id);
      let stores: Stores | undefined;
      // JetStream that does not answer yet (a stream leader being elected, a server restarting) is waited for; a node
      // that gave up at once would run for its whole life without desired state, bidding for work it cannot take.
      const waitUntil = Date.now() + JETSTREAM_WAIT_MS;
      for (let attempt = 1; ; attempt++) {
        try {
          await ensureClaimStream(nc, log);
          await tenancy.agent(SYSTEM_NAMESPACE);
          const nodesKv = await openBucket(nc, NODES_BUCKET, { allowDirect: true, description: "nex-ts nodes: leases and instances" }, log);
          const leases = new Leases(nodesKv, identity.id, opts.missedBeats);
          // Desired state is trusted from this node and from nodes with a lease in the control plane.
          const desired = await DesiredStore.open(nc, keyPair(new TextDecoder().decode(identity.keyPair.getSeed())), (id) => leases.known(id), log);
          const durable = new DurableTriggers({
            agent: (ns) => tenancy.agent(ns),
            triggerStreamBytes: opts.triggerStreamBytes,
            dlqBytes: opts.dlqBytes,
            runnersPerNamespace: opts.tunables.runnersPerNamespace,
            log,
          });
          stores = { desired, leases, durable };
          break;
        } catch (err) {
          if (jetStreamBusy(err, attempt > 1) && Date.now() < waitUntil) {
            log(`warning: JetStream did not answer (${(err as Error).message}); trying again`);
            await new Promise((r) => setTimeout(r, Math.min(5_000, 500 * attempt)));
            continue;
          }
          jetstream = false;
          log(`warning: JetStream is unavailable (${(err as Error).message}); running without persistent state or log history`);
          break;
        }
      }
      const tags = { ...opts.tags, ...automaticTags({ name: opts.name, sandbox: opts.sandbox }) };
      const host: RuntimeHost = {
        nodeId: identity.id,
        access: tenancy,
        dataDir: opts.dataDir,
        sandbox: opts.sandbox,
        workloadUser: opts.workloadUser,
        autoCreateBuckets: opts.autoCreateBuckets,
        allowEgress: opts.allowEgress,
        tunables: opts.tunables,
        otlpEndpoint: opts.otlpEndpoint,
        event: (ns, type, wid, data) => events.emit(ns, type, wid, data),
        log: (spec, stream, line) => {
          tenancy.agent(spec.namespace).then(
            (conn) => conn.publish(subjects.logs(spec.namespace, spec.name, spec.id, stream), line),
            () => undefined,
          );
        },
      };
      const runtimes = await createRuntimes(host, opts.types);
      const artifacts = new ArtifactStore({
        connect: (ns) => tenancy.agent(ns),
        cacheDir: join(opts.dataDir, "artifacts"),
        maxBytes: opts.maxArtifactBytes,
        allowFileDirs: opts.allowFileDirs,
      });
      const late: Late = {};
      const workloads = new WorkloadManager({
        nodeId: identity.id,
        runtimes,
        artifacts,
        host,
        maxWorkloads: opts.maxWorkloads,
        maximums: opts.maximums,
        leases: stores?.leases,
        onJobDone: (inst, exitCode) => (stores ? markJobDone(stores.desired, inst, exitCode) : Promise.resolve()),
        // A durable function's stream and consumer exist (and match its spec) before an instance consumes.
        prepare: (t) => (stores ? stores.durable.ensure(t) : Promise.resolve()),
        onChanged: () => late.scheduler?.sync(),
        // Nothing stops before the node has booted, and `metrics` is set by then.
        onStopped: (spec, stats) => metrics?.retire(sampleOf(spec, stats)),
        log,
      });
      // prom-client is loaded only by a node that serves metrics (it costs tens of milliseconds to load).
      const metrics = opts.metrics
        ? new (await import("../observe/metrics.js")).NodeMetrics(
            metricsSource({ nodeId: identity.id, nodeName: opts.name, workloads, runtimes, natsReconnects: () => reconnects.count }),
          )
        : undefined;
      const node = new NexNode(opts, identity, nc, tenancy, events, workloads, runtimes, tags, stores, artifacts, log, metrics);
      late.scheduler = node.scheduler;
      await node.boot().catch(async (err: unknown) => {
        await node.metricsServer?.close();
        throw err;
      });
      return node;
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  private async boot(): Promise<void> {
    if (this.opts.warmRunners && this.serves(DEFAULT_NAMESPACE)) {
      for (const [type, rt] of this.runtimes) {
        await rt.warm?.(DEFAULT_NAMESPACE).catch((err: Error) => this.log(`warning: could not warm up the ${type} runtime: ${err.message}`));
      }
    }
    if (this.metrics && this.opts.metrics) {
      this.metricsServer = await startMetricsServer(this.opts.metrics, this.metrics);
    }
    if (this.stores) {
      // JetStream answered a moment ago; a server restarting now is waited out here too, step by step.
      const until = Math.max(this.startedAt.getTime() + JETSTREAM_WAIT_MS, Date.now() + 10_000);
      const stores = this.stores;
      await whileJetStreamBusy(() => stores.leases.start(() => this.reconciler?.kick()), until, this.log);
      await whileJetStreamBusy(() => this.publishLease(), until, this.log);
      await whileJetStreamBusy(() => this.scheduler!.start(), until, this.log);
      await whileJetStreamBusy(() => this.reconciler!.start(), until, this.log);
      await this.resume();
    }
    this.service = await startControlService(this.nc, { id: this.id, name: this.opts.name }, this.handlers());
    // The node is up once the server has its subscriptions: a request sent right after start must find it.
    await this.nc.flush();
    this.state = "running";
    await this.publishLease().catch(() => undefined);
    const beat = (): HeartbeatData => ({ ...this.summary(), heartbeatIntervalMs: this.opts.heartbeatIntervalMs });
    this.emit(SYSTEM_NAMESPACE, "node_started", this.id, beat());
    this.heartbeat = setInterval(() => {
      this.emit(SYSTEM_NAMESPACE, "node_heartbeat", this.id, beat());
      this.publishLease().catch((err: Error) => this.log(`warning: could not renew the lease: ${err.message}`));
    }, this.opts.heartbeatIntervalMs);
    this.heartbeat.unref();
    if (this.reconciler) {
      this.reconciler.kick();
      this.storeTimer = setInterval(() => void this.reconciler?.checkStore(), 5_000);
      this.storeTimer.unref();
      void this.watchConnection();
    }
  }

  /** After a disconnect, every silence is our own: liveness counts again from now. */
  private async watchConnection(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.state === "stopped") return;
      if (s.type === "disconnect" || s.type === "reconnect") this.stores?.leases.resetClock();
    }
  }

  /** What this node says about itself in its lease. */
  private leaseData(): LeaseData {
    const grace = this.state === "stopped" && this.opts.restartGraceMs > 0 && !this.drained ? new Date(Date.now() + this.opts.restartGraceMs).toISOString() : undefined;
    return {
      v: 1,
      nodeId: this.id,
      name: this.opts.name,
      state: this.draining ? "draining" : this.state,
      intervalMs: this.opts.heartbeatIntervalMs,
      tags: this.tags,
      types: [...this.runtimes.keys()],
      sandbox: this.opts.sandbox,
      namespaces: this.opts.namespaces,
      ...(grace ? { graceUntil: grace } : {}),
    };
  }

  private publishLease(): Promise<void> {
    return this.stores?.leases.publish(this.leaseData()) ?? Promise.resolve();
  }

  /**
   * A restarted node brings back the instances it recorded before, with their ids, unless their workload is gone,
   * was redeployed since, or already runs its replicas elsewhere.
   */
  private async resume(): Promise<void> {
    const { leases } = this.stores!;
    for (const rec of leases.recordedBy(this.id)) {
      const d = this.reconciler!.get(rec.key);
      const others = leases.instancesOf(rec.key).filter((x) => x.nodeId !== this.id && x.inst.generation === rec.generation).length;
      const why = !d
        ? "no longer desired"
        : d.done
          ? "a job that already ran"
          : d.template.generation !== rec.generation
            ? "redeployed since"
            : others >= d.template.replicas
              ? "running elsewhere"
              : this.cannotRun(d.template);
      if (why || !d) {
        await leases.removeInstance(rec.id).catch(() => undefined);
        continue;
      }
      try {
        await this.workloads.serialized(rec.key, () => this.workloads.start(d.template, { id: rec.id, event: "resumed" }));
        this.log(`restored ${d.template.type} workload ${rec.key} (${rec.id})`);
      } catch (err) {
        const e = NexError.from(err);
        this.log(`warning: could not restore ${rec.key}: ${e.code} ${e.message}`);
        await leases.removeInstance(rec.id).catch(() => undefined);
      }
    }
  }

  /** Why this node cannot run a workload, or undefined when it can. */
  private cannotRun(t: WorkloadTemplate): string | undefined {
    if (!this.serves(t.namespace)) return `node ${this.id} does not serve namespace ${t.namespace}`;
    if (!this.runtimes.has(t.type)) return `node ${this.id} does not run ${t.type} workloads`;
    if (t.sandboxed && !this.opts.sandbox) return `${t.namespace}/${t.name} runs sandboxed, and node ${this.id} has no sandbox`;
    if (!tagsMatch(this.tags, Object.keys(t.tags).length ? t.tags : undefined)) return `node ${this.id} lacks the tags ${JSON.stringify(t.tags)}`;
    return undefined;
  }

  private serves(ns: string): boolean {
    return (this.opts.namespaces === "*" || this.opts.namespaces.includes(ns)) && this.tenancy.knows(ns);
  }

  private requireNamespace(ns: string): void {
    if (!this.serves(ns)) throw new NexError("NEX_E_NODE_NOT_FOUND", `node ${this.id} does not serve namespace ${ns}`);
  }

  /** Node-wide operations (lame duck, the `system` namespace) need the control plane's own account. */
  private requireAdmin(origin: Origin, what: string): void {
    if (origin.kind !== "admin") throw new NexError("NEX_E_FORBIDDEN", `${what} needs the nex account's credentials`);
  }

  private emit<T extends EventType>(ns: string, type: T, subject: string | undefined, data: EventData<T>): void {
    this.events.emit(ns, type, subject, data);
  }

  /** The node's public summary. */
  summary(): NodeSummary {
    return {
      nodeId: this.id,
      name: this.opts.name,
      version: VERSION,
      state: this.state,
      startedAt: this.startedAt.toISOString(),
      uptimeMs: Date.now() - this.startedAt.getTime(),
      tags: this.tags,
      types: [...this.runtimes.keys()],
      workloads: this.workloads.count,
      load: Math.round((loadavg()[0]! / Math.max(1, cpus().length)) * 100) / 100,
      freeMemMiB: Math.round(freemem() / 1024 / 1024),
    };
  }

  private handlers(): ControlHandlers {
    // Every handler first learns who is asking; a request that crossed from a foreign account stops here.
    type Handler = (ns: string, body: Record<string, unknown>, origin: Origin) => Promise<unknown>;
    const guard =
      (fn: Handler): ControlHandlers["ping"] =>
      async (ns, body, info) => {
        const origin = this.tenancy.origin(ns, info);
        return fn(ns, parseBody(body), origin);
      };
    return {
      ping: guard(async (_ns, body) => {
        const { tags } = decode.ping(body);
        if (!tagsMatch(this.tags, tags)) throw new NexError("NEX_E_NODE_NOT_FOUND", `node ${this.id} does not have the tags asked for`);
        return this.summary();
      }),
      info: guard(async (ns, body, origin) => {
        decode.info(body);
        if (ns === SYSTEM_NAMESPACE) this.requireAdmin(origin, "INFO across namespaces");
        const info: NodeInfo = {
          ...this.summary(),
          namespaces: this.opts.namespaces,
          sandbox: this.opts.sandbox,
          stateStore: !this.reconciler ? "none" : this.reconciler.lost ? "lost" : "ok",
          maximums: this.opts.maximums,
          cpuLimits: this.runtimes.get("native")?.limitSupport?.().cpus ?? false,
          runnersPerNamespace: this.opts.tunables.runnersPerNamespace,
          // The list refreshes the runners' counters, so it comes first.
          workloadList: await this.workloads.list(ns === SYSTEM_NAMESPACE ? undefined : ns),
          runners: [...this.runtimes].flatMap(([type, rt]) =>
            (rt.processes?.() ?? []).filter((p) => ns === SYSTEM_NAMESPACE || p.namespace === ns).map((p) => ({ type, ...p })),
          ),
        };
        return info;
      }),
      auction: guard(async (ns, body) => this.bid(ns, decode.auction(body))),
      deploy: guard(async (ns, body) => {
        this.requireNamespace(ns);
        const spec = capDefaults(decode.deploy(body, ns), body, this.opts.maximums);
        if (this.state !== "running") throw new NexError("NEX_E_LAMEDUCK", `node ${this.id} is ${this.state} and takes no new work`);
        return this.ops.deploy(spec);
      }),
      stop: guard(async (ns, body) => {
        this.requireNamespace(ns);
        return this.ops.stop(ns, decode.stop(body));
      }),
      place: guard(async (ns, body, origin) => {
        this.requireAdmin(origin, "PLACE");
        this.requireNamespace(ns);
        if (this.state !== "running") throw new NexError("NEX_E_LAMEDUCK", `node ${this.id} is ${this.state} and takes no new work`);
        const req = decode.place(body);
        return this.ops.place(ns, req.name, req.generation);
      }),
      list: guard(async (ns, body, origin) => {
        if (ns === SYSTEM_NAMESPACE) this.requireAdmin(origin, "LIST across namespaces");
        else this.requireNamespace(ns);
        const { name, offset } = decode.list(body);
        const reply: ListReply = { nodeId: this.id, workloads: await this.workloads.list(ns === SYSTEM_NAMESPACE ? undefined : ns, name) };
        if (ns !== SYSTEM_NAMESPACE && this.reconciler && this.stores) {
          reply.desired = this.reconciler.summaries(ns).filter((d) => name === undefined || d.name === name);
          reply.liveNodes = this.stores.leases
            .liveNodes()
            .filter((l) => l.state !== "stopped" && (l.namespaces === "*" || l.namespaces.includes(ns)))
            .map((l) => l.nodeId);
        }
        return listPage(reply, offset ?? 0, (this.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD) - REPLY_MARGIN);
      }),
      inspect: guard(async (ns, body) => {
        this.requireNamespace(ns);
        const reply: InspectReply = { nodeId: this.id, workloads: await this.workloads.inspect(ns, decode.inspect(body)) };
        return reply;
      }),
      lameduck: guard(async (_ns, body, origin) => {
        this.requireAdmin(origin, "LAMEDUCK");
        const { delayMs } = decode.lameduck(body);
        this.lameduck(delayMs);
        const reply: LameduckReply = { nodeId: this.id, state: this.state };
        return reply;
      }),
    };
  }

  /** A bid for an auction, or DECLINE when this node can't or shouldn't take the workload. */
  private bid(ns: string, req: AuctionRequest): Bid | typeof DECLINE {
    if (this.state !== "running" || !this.serves(ns)) return DECLINE;
    const runtime = this.runtimes.get(req.type);
    if (!runtime) return DECLINE;
    if (!tagsMatch(this.tags, req.tags)) return DECLINE;
    if (req.sandbox && !this.opts.sandbox) return DECLINE;
    if (req.exclude?.includes(this.id)) return DECLINE;
    if (this.workloads.count >= this.opts.maxWorkloads) return DECLINE;
    // Limits the auction names must be within this node's maximums and ones it can enforce; absent ones get defaults it caps.
    if (overMaximum(req.type, req, this.opts.maximums) || unsupportedLimit(req.type, req, runtime.limitSupport?.())) return DECLINE;
    const s = this.summary();
    // Lower is better. A fully busy CPU (load 1.0 per core) weighs as much as 20 workloads; a node short of
    // memory goes to the back of the line.
    const score = Math.round((s.workloads + s.load * 20 + (s.freeMemMiB < 256 ? 1000 : 0)) * 100) / 100;
    return { node: s, score };
  }

  /** Stops taking new work; after `delayMs`, drains the workloads (the other nodes take them) and stops the node. */
  lameduck(delayMs: number): void {
    if (this.state !== "running") return;
    this.state = "lameduck";
    this.tags["nex.lameduck"] = "true";
    this.emit(SYSTEM_NAMESPACE, "node_lameduck", this.id, { delayMs });
    void this.publishLease().catch(() => undefined);
    this.lameduckTimer = setTimeout(() => void this.drain().finally(() => this.stop()), delayMs);
  }

  /**
   * Draining: this node's instances stop counting, so the other nodes' reconcilers place their replacements; this node
   * gives each one up once its replacements run (or after the drain timeout). What cannot move stays desired.
   */
  private async drain(): Promise<void> {
    if (!this.reconciler) return;
    this.draining = true;
    await this.publishLease().catch(() => undefined);
    this.reconciler.kick();
    const deadline = Date.now() + this.opts.drainTimeoutMs;
    // With no other node to take them, the workloads stay desired and this node stops: they start where a node comes.
    const othersUp = (): boolean => this.stores!.leases.liveNodes().some((l) => l.nodeId !== this.id && l.state === "running");
    while (this.workloads.count > 0 && Date.now() < deadline && othersUp()) await new Promise((r) => setTimeout(r, 200));
    this.drained = this.workloads.count === 0;
  }

  /** Resolves when the node has stopped (by `stop()` or after lame duck). */
  onStopped(fn: () => void): void {
    this.stoppedHooks.push(fn);
  }

  /** Stops in order: stop taking work, stop workloads (keeping desired state), then close NATS. */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    this.state = "stopping";
    clearInterval(this.heartbeat);
    clearInterval(this.storeTimer);
    clearTimeout(this.lameduckTimer);
    await this.reconciler?.stop();
    this.scheduler?.close();
    await this.service?.stop().catch(() => undefined);
    await this.metricsServer?.close();
    // A clean stop keeps the instances' records: a restart within the grace brings them back, unmoved.
    await this.workloads.stopAll(!this.drained);
    await Promise.allSettled([...this.runtimes.values()].map((r) => r.close()));
    this.state = "stopped";
    await this.publishLease().catch(() => undefined);
    this.stores?.leases.stop();
    this.stores?.durable.close();
    this.emit(SYSTEM_NAMESPACE, "node_stopped", this.id, { nodeId: this.id });
    await this.tenancy.close();
    await this.nc.drain().catch(() => undefined);
    for (const fn of this.stoppedHooks) fn();
  }
}

/** Counts the reconnects of a connection, for metrics (the count lives as long as the connection). */
function countReconnects(nc: NatsConnection): { count: number } {
  const counter = { count: 0 };
  void (async () => {
    for await (const s of nc.status()) if (s.type === "reconnect") counter.count++;
  })().catch(() => undefined);
  return counter;
}
