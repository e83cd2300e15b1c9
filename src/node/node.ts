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
  type StopReply,
} from "../contract/index.js";
import { connectNats } from "../nats/connect.js";
import type { NodeMetrics } from "../observe/metrics.js";
import { startMetricsServer, type MetricsServer } from "../observe/server.js";
import type { RuntimeHost } from "../runtimes/runtime.js";
import { createRuntimes } from "../runtimes/registry.js";
import { ArtifactStore } from "./artifacts.js";
import { DECLINE, startControlService, type ControlHandlers } from "./control.js";
import { EventPublisher, ensureFeedStream } from "./events.js";
import { Failover, ensureClaimStream, relocate } from "./failover.js";
import { loadIdentity, type NodeIdentity } from "./identity.js";
import { metricsSource, sampleOf } from "./metrics.js";
import { resolveNodeOptions, type NodeOptions, type ResolvedNodeOptions } from "./options.js";
import { StateStore } from "./state.js";
import { Tenancy, type Origin } from "./tenancy.js";
import { automaticTags, tagsMatch } from "./tags.js";
import { WorkloadManager } from "./workloads.js";

/** A running node. */
export class NexNode {
  private state: NodeState = "starting";
  private readonly startedAt = new Date();
  private service: Service | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private lameduckTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private failover: Failover | undefined;
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
    private readonly metrics: NodeMetrics | undefined,
  ) {}

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
      let state: StateStore | undefined;
      try {
        await ensureClaimStream(nc);
        state = await StateStore.open(nc, identity.id);
        await tenancy.agent(SYSTEM_NAMESPACE);
      } catch (err) {
        jetstream = false;
        log(`warning: JetStream is unavailable (${(err as Error).message}); running without persistent state or log history`);
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
      const workloads = new WorkloadManager({
        nodeId: identity.id,
        runtimes,
        artifacts,
        state,
        host,
        maxWorkloads: opts.maxWorkloads,
        // Nothing stops before the node has booted, and `metrics` is set by then.
        onStopped: (spec, stats) => metrics?.retire(sampleOf(spec, stats)),
      });
      // prom-client is loaded only by a node that serves metrics (it costs tens of milliseconds to load).
      const metrics = opts.metrics
        ? new (await import("../observe/metrics.js")).NodeMetrics(
            metricsSource({ nodeId: identity.id, nodeName: opts.name, workloads, runtimes, natsReconnects: () => reconnects.count }),
          )
        : undefined;
      const node = new NexNode(opts, identity, nc, tenancy, events, workloads, runtimes, tags, metrics);
      await node.boot(state, log).catch(async (err: unknown) => {
        await node.metricsServer?.close();
        throw err;
      });
      return node;
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  private async boot(state: StateStore | undefined, log: (line: string) => void): Promise<void> {
    if (this.opts.warmRunners && this.serves(DEFAULT_NAMESPACE)) {
      for (const [type, rt] of this.runtimes) {
        await rt.warm?.(DEFAULT_NAMESPACE).catch((err: Error) => log(`warning: could not warm up the ${type} runtime: ${err.message}`));
      }
    }
    if (this.metrics && this.opts.metrics) {
      this.metricsServer = await startMetricsServer(this.opts.metrics, this.metrics);
    }
    if (state) await this.restore(state, log);
    this.service = await startControlService(this.nc, { id: this.id, name: this.opts.name }, this.handlers());
    // The node is up once the server has its subscriptions: a request sent right after start must find it.
    await this.nc.flush();
    this.state = "running";
    const beat = (): HeartbeatData => ({ ...this.summary(), heartbeatIntervalMs: this.opts.heartbeatIntervalMs });
    this.emit(SYSTEM_NAMESPACE, "node_started", this.id, beat());
    this.heartbeat = setInterval(() => this.emit(SYSTEM_NAMESPACE, "node_heartbeat", this.id, beat()), this.opts.heartbeatIntervalMs);
    this.heartbeat.unref();
    if (state) {
      this.failover = new Failover({
        nc: this.nc,
        nodeId: this.id,
        state,
        events: this.events,
        heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
        missedBeats: this.opts.missedBeats,
        isRunning: () => this.state === "running",
        log,
      });
      this.failover.start();
    }
  }

  /** Brings back every workload recorded for this node. */
  private async restore(state: StateStore, log: (line: string) => void): Promise<void> {
    const specs = await state.load((key, err) => log(`warning: skipping unreadable state entry ${key}: ${err.message}`));
    for (const spec of specs) {
      if (!this.serves(spec.namespace) || !this.runtimes.has(spec.type)) continue;
      try {
        await this.workloads.deploy(spec, true);
        log(`restored ${spec.type} workload ${spec.namespace}/${spec.name} (${spec.id})`);
      } catch (err) {
        const e = NexError.from(err);
        log(`warning: could not restore ${spec.namespace}/${spec.name}: ${e.code} ${e.message}`);
      }
    }
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
        return tagsMatch(this.tags, tags) ? this.summary() : DECLINE;
      }),
      info: guard(async (ns, body, origin) => {
        decode.info(body);
        if (ns === SYSTEM_NAMESPACE) this.requireAdmin(origin, "INFO across namespaces");
        const info: NodeInfo = {
          ...this.summary(),
          namespaces: this.opts.namespaces,
          sandbox: this.opts.sandbox,
          workloadList: await this.workloads.list(ns === SYSTEM_NAMESPACE ? undefined : ns),
        };
        return info;
      }),
      auction: guard(async (ns, body) => this.bid(ns, decode.auction(body))),
      deploy: guard(async (ns, body) => {
        this.requireNamespace(ns);
        const spec = decode.deploy(body, ns);
        if (this.state !== "running") throw new NexError("NEX_E_LAMEDUCK", `node ${this.id} is ${this.state} and takes no new work`);
        return this.workloads.deploy(spec);
      }),
      stop: guard(async (ns, body) => {
        this.requireNamespace(ns);
        const reply: StopReply = { stopped: await this.workloads.stop(ns, decode.stop(body)) };
        return reply;
      }),
      list: guard(async (ns, body, origin) => {
        if (ns === SYSTEM_NAMESPACE) this.requireAdmin(origin, "LIST across namespaces");
        else if (!this.serves(ns)) return DECLINE;
        const { name } = decode.list(body);
        const reply: ListReply = { nodeId: this.id, workloads: await this.workloads.list(ns === SYSTEM_NAMESPACE ? undefined : ns, name) };
        return reply;
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
    if (!this.runtimes.has(req.type)) return DECLINE;
    if (!tagsMatch(this.tags, req.tags)) return DECLINE;
    if (this.workloads.count >= this.opts.maxWorkloads) return DECLINE;
    const s = this.summary();
    // Lower is better. A fully busy CPU (load 1.0 per core) weighs as much as 20 workloads; a node short of
    // memory goes to the back of the line.
    const score = Math.round((s.workloads + s.load * 20 + (s.freeMemMiB < 256 ? 1000 : 0)) * 100) / 100;
    return { node: s, score };
  }

  /** Stops taking new work; after `delayMs`, drains the workloads and stops the node. */
  lameduck(delayMs: number): void {
    if (this.state !== "running") return;
    this.state = "lameduck";
    this.tags["nex.lameduck"] = "true";
    this.emit(SYSTEM_NAMESPACE, "node_lameduck", this.id, { delayMs });
    this.lameduckTimer = setTimeout(() => void this.drain().finally(() => this.stop()), delayMs);
  }

  /** Moves every workload to another node where one can take it; what can't move stays in desired state. */
  private async drain(): Promise<void> {
    for (const spec of this.workloads.specs()) {
      try {
        const r = await relocate(this.nc, spec);
        await this.workloads.stop(spec.namespace, { id: spec.id });
        this.emit(spec.namespace, "workload_moved", r.id, { name: spec.name, type: spec.type, from: this.id, to: r.nodeId, previousId: spec.id });
      } catch (err) {
        const e = NexError.from(err);
        this.emit(spec.namespace, "workload_failed", spec.id, { name: spec.name, code: e.code, message: `could not move off lame duck node: ${e.message}` });
      }
    }
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
    clearTimeout(this.lameduckTimer);
    this.failover?.stop();
    await this.service?.stop().catch(() => undefined);
    await this.metricsServer?.close();
    await this.workloads.stopAll(true);
    await Promise.allSettled([...this.runtimes.values()].map((r) => r.close()));
    this.state = "stopped";
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
