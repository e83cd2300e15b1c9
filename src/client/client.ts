/**
 * The nex-ts client library: find nodes, deploy (with placement), list, stop, invoke and watch.
 * The CLI is built on it, and so can any program be.
 *
 * ```ts
 * const nc = await connect({ servers: "nats://127.0.0.1:4222" });
 * const nex = new NexClient(nc);
 * const { location, sha256 } = await nex.uploadArtifact("echo.js", bytes);
 * await nex.deploy({ name: "echo", type: "v8", location, sha256, triggers: ["echo"] });
 * console.log((await nex.invoke("echo", "hello")).string());
 * ```
 */
import { createHash } from "node:crypto";
import type { Msg, MsgHdrs, NatsConnection, RequestManyOptions } from "@nats-io/nats-core";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { Objm } from "@nats-io/obj";
import {
  ARTIFACT_BUCKET,
  DEFAULT_NAMESPACE,
  Headers,
  NexError,
  decode,
  subjects,
  type AuctionRequest,
  type Bid,
  type ControlVerb,
  type DeployReply,
  type DesiredSummary,
  type DeployRequest,
  type InspectReply,
  type LameduckReply,
  type ListReply,
  type NodeInfo,
  type NodeSummary,
  type RequestedLimits,
  type StopReply,
  type WorkloadInspection,
  type WorkloadSummary,
  type WorkloadType,
} from "../contract/index.js";
import { isNoResponders, isTimeout } from "../nats/errors.js";

/** Client settings. */
export interface NexClientOptions {
  namespace?: string;
  /** Timeout for single-node requests. */
  timeoutMs?: number;
  /** How long broadcast requests (ping, auction, list) wait for the first answer. */
  discoveryMs?: number;
  /** How long broadcast requests wait after the last answer before they stop. */
  stallMs?: number;
}

/** Where and how to deploy. */
export interface PlacementOptions {
  /** Deploy to this node (id or name) instead of running an auction. */
  node?: string;
  /** Only nodes with all of these tags may take the workload. */
  tags?: Record<string, string>;
  /** Bids of an auction already run (e.g. while the artifact uploaded), best first, instead of a new auction. */
  bids?: Bid[];
}

/** Deploy result with what placement decided. */
export interface DeployResult extends DeployReply {
  /** How many nodes bid (0 when a node was named). */
  bids: number;
}

/** Desired against actual state, as `nex ls` shows it. */
export interface WorkloadStatus {
  instances: WorkloadSummary[];
  desired: DesiredSummary[];
  /** How many nodes answered. */
  answered: number;
  /** Live nodes (by another node's lease view) that did not answer. */
  missingNodes: string[];
}

/** The nex-ts client. */
export class NexClient {
  readonly namespace: string;
  private readonly timeoutMs: number;
  private readonly discoveryMs: number;
  private readonly stallMs: number;

  constructor(
    readonly nc: NatsConnection,
    opts: NexClientOptions = {},
  ) {
    this.namespace = opts.namespace ?? DEFAULT_NAMESPACE;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.discoveryMs = opts.discoveryMs ?? 1_000;
    this.stallMs = opts.stallMs ?? 150;
  }

  /** Sends a control request to one node and returns its JSON reply, or throws the node's coded error. */
  async request<T>(verb: ControlVerb, nodeId: string, body: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    let msg: Msg;
    try {
      msg = await this.nc.request(subjects.control(this.namespace, verb, nodeId), JSON.stringify(body ?? {}), { timeout: timeoutMs });
    } catch (err) {
      throw mapRequestError(err, `node ${nodeId}`);
    }
    return decodeReply<T>(msg);
  }

  /**
   * Sends a broadcast control request and gathers every node's answer: it waits up to `waitMs` for the first, then
   * stops once no other answer came for `stallMs` (nodes answer in about a millisecond on one network).
   */
  async gather<T>(verb: ControlVerb, body: unknown, waitMs = this.discoveryMs): Promise<T[]> {
    const out: T[] = [];
    const opts: Partial<RequestManyOptions> = { strategy: "stall", maxWait: waitMs, stall: this.stallMs };
    try {
      const it = await this.nc.requestMany(subjects.control(this.namespace, verb), JSON.stringify(body ?? {}), opts);
      for await (const m of it) {
        if (m.data.length === 0 && !m.headers) continue;
        try {
          out.push(decodeReply<T>(m));
        } catch {
          // One node's error must not hide the others' answers.
        }
      }
    } catch (err) {
      if (!isNoResponders(err)) throw err;
    }
    return out;
  }

  /** Every node (optionally only those with all of `tags`). */
  async ping(tags?: Record<string, string>): Promise<NodeSummary[]> {
    const nodes = await this.gather<NodeSummary>("PING", tags ? { tags } : {});
    return nodes.sort((a, b) => a.name.localeCompare(b.name) || a.nodeId.localeCompare(b.nodeId));
  }

  /** Resolves a node id or a node name (or a unique id prefix) to a node id. */
  async resolveNode(idOrName: string): Promise<string> {
    if (/^N[A-Z2-7]{55}$/.test(idOrName)) return idOrName;
    const nodes = await this.ping();
    const hits = nodes.filter((n) => n.name === idOrName || n.nodeId.startsWith(idOrName));
    if (hits.length === 1) return hits[0]!.nodeId;
    if (hits.length === 0) throw new NexError("NEX_E_NODE_NOT_FOUND", `no node named or starting with "${idOrName}"`);
    throw new NexError("NEX_E_NODE_NOT_FOUND", `"${idOrName}" matches ${hits.length} nodes; use the full node id`);
  }

  /** One node and its workloads. */
  async info(node: string): Promise<NodeInfo> {
    return this.request<NodeInfo>("INFO", await this.resolveNode(node), {});
  }

  /**
   * Asks every node for a bid; sorted best (least loaded) first. With limits (what the deploy will ask for), nodes
   * whose maximums they exceed, or that cannot enforce them, do not bid; `sandbox` asks for nodes with the sandbox,
   * `exclude` leaves nodes out.
   */
  async auction(type: WorkloadType, tags?: Record<string, string>, opts: AuctionOptions = {}): Promise<Bid[]> {
    const body: AuctionRequest = { type, tags, namespace: this.namespace, ...definedLimits(opts) };
    if (opts.sandbox !== undefined) body.sandbox = opts.sandbox;
    if (opts.exclude !== undefined) body.exclude = opts.exclude;
    const bids = await this.gather<Bid>("AUCTION", body);
    return bids
      .filter((b) => b && typeof b.score === "number" && b.node?.nodeId)
      .sort((a, b) => a.score - b.score || a.node.workloads - b.node.workloads || a.node.nodeId.localeCompare(b.node.nodeId));
  }

  /** Deploys a workload: to the named node, or to the best bidder of an auction. */
  async deploy(req: DeployRequest, placement: PlacementOptions = {}): Promise<DeployResult> {
    const tags = placement.tags ?? req.tags;
    const body: DeployRequest = { ...req, namespace: this.namespace, tags };
    // The node's own decoder, run before anything is sent: a bad request fails here with the same coded error.
    decode.deploy(body as unknown as Record<string, unknown>, this.namespace);
    let nodeId: string;
    let bids = 0;
    if (placement.node) {
      nodeId = await this.resolveNode(placement.node);
    } else {
      const all = placement.bids ?? (await this.auction(req.type, tags, req));
      bids = all.length;
      if (all.length === 0) {
        throw new NexError(
          "NEX_E_NO_NODES",
          `no running node can take a ${req.type} workload${tags ? ` with tags ${JSON.stringify(tags)}` : ""} in namespace ${this.namespace}`,
        );
      }
      nodeId = all[0]!.node.nodeId;
    }
    // The node stores the spec and starts the first instance; every node's reconciler places the other replicas,
    // and replaces the instances of an earlier deploy of the same name.
    const reply = await this.request<DeployReply>("DEPLOY", nodeId, body, Math.max(this.timeoutMs, 60_000));
    return { ...reply, bids };
  }

  /** Instances across all nodes (or one node) in the client's namespace. */
  async list(opts: { name?: string; node?: string } = {}): Promise<WorkloadSummary[]> {
    return (await this.status(opts)).instances;
  }

  /**
   * Desired against actual state: every instance, every desired workload, and whether every node that should have
   * answered did (`missingNodes` lists the live nodes that did not).
   */
  async status(opts: { name?: string; node?: string } = {}): Promise<WorkloadStatus> {
    const body = opts.name ? { name: opts.name } : {};
    const replies = opts.node
      ? [await this.request<ListReply>("LIST", await this.resolveNode(opts.node), body)]
      : await this.gather<ListReply>("LIST", body);
    // A node whose list does not fit in one message sends it in pages: the rest is asked of that node alone.
    for (const r of replies) {
      let page = r;
      let at = 0;
      // Pages must move on: a `next` that does not (a confused or hostile node) ends the listing of that node.
      while (typeof page.next === "number" && Number.isSafeInteger(page.next) && page.next > at) {
        at = page.next;
        page = await this.request<ListReply>("LIST", r.nodeId, { ...body, offset: at });
        r.workloads = [...(r.workloads ?? []), ...(page.workloads ?? [])];
        if (page.desired) r.desired = [...(r.desired ?? []), ...page.desired];
      }
      delete r.next;
    }
    const instances = replies.flatMap((r) => r.workloads ?? []).sort((a, b) => a.name.localeCompare(b.name) || a.nodeId.localeCompare(b.nodeId));
    // The freshest view of desired state is the one with the highest generations.
    const desired = new Map<string, DesiredSummary>();
    for (const r of replies) {
      for (const d of r.desired ?? []) {
        const seen = desired.get(d.name);
        if ((seen?.generation ?? 0) > d.generation) continue;
        // Each node counts the skipped ticks it has seen; the highest count is the freshest.
        const skipped = Math.max(seen?.skippedTicks ?? 0, d.skippedTicks ?? 0);
        desired.set(d.name, skipped > 0 ? { ...d, skippedTicks: skipped } : d);
      }
    }
    const answered = new Set(replies.map((r) => r.nodeId));
    const expected = new Set(replies.flatMap((r) => r.liveNodes ?? []));
    const missingNodes = opts.node ? [] : [...expected].filter((n) => !answered.has(n)).sort();
    return { instances, desired: [...desired.values()].sort((a, b) => a.name.localeCompare(b.name)), answered: answered.size, missingNodes };
  }

  /**
   * Stops a workload by name (it is forgotten: every instance on every node stops) or one instance by id (it
   * stops; when its workload is still desired, the nodes place a replacement).
   */
  async stop(nameOrId: string, opts: { node?: string; deleteStream?: boolean } = {}): Promise<StopReply> {
    const st = await this.status(opts.node ? { node: opts.node } : {});
    const byId = st.instances.find((w) => w.id === nameOrId);
    if (byId && !opts.deleteStream) return this.request<StopReply>("STOP", byId.nodeId, { id: byId.id });
    const holder = st.instances.find((w) => w.name === nameOrId)?.nodeId;
    const desired = st.desired.some((d) => d.name === nameOrId);
    // A name that is gone may still have a kept trigger stream to delete.
    if (!holder && !desired && !opts.deleteStream) throw new NexError("NEX_E_NOT_FOUND", `no workload named or with id "${nameOrId}" in namespace ${this.namespace}`);
    const target = holder ?? (await this.ping())[0]?.nodeId;
    if (!target) throw new NexError("NEX_E_NO_NODES", `no node answers in namespace ${this.namespace}`);
    const body = decode.stop(opts.deleteStream ? { name: nameOrId, deleteStream: true } : { name: nameOrId });
    return this.request<StopReply>("STOP", target, body);
  }

  /**
   * One workload, by name or id, wherever it runs: each instance's summary, its spec (env values masked) and its
   * recent invocations and failures, asked of every node that runs it. Instances are sorted by node, then id.
   */
  async inspect(nameOrId: string, opts: { node?: string } = {}): Promise<WorkloadInspection[]> {
    const all = await this.list(opts.node ? { node: opts.node } : {});
    const byId = all.filter((w) => w.id === nameOrId);
    const hits = byId.length > 0 ? byId : all.filter((w) => w.name === nameOrId);
    if (hits.length === 0) throw new NexError("NEX_E_NOT_FOUND", `no workload named or with id "${nameOrId}" in namespace ${this.namespace}`);
    const body = decode.inspect(byId.length > 0 ? { id: nameOrId } : { name: nameOrId });
    const nodes = [...new Set(hits.map((w) => w.nodeId))];
    const replies = await Promise.all(nodes.map((n) => this.request<InspectReply>("INSPECT", n, body)));
    return replies.flatMap((r) => r.workloads).sort((a, b) => a.nodeId.localeCompare(b.nodeId) || a.id.localeCompare(b.id));
  }

  /** Puts a node in lame duck mode. */
  async lameduck(node: string, delayMs: number | string = 0): Promise<LameduckReply> {
    const body = decode.lameduck({ delayMs });
    return this.request<LameduckReply>("LAMEDUCK", await this.resolveNode(node), body);
  }

  /** Uploads an artifact to the object store and returns its `nats://` location and sha256. */
  async uploadArtifact(key: string, bytes: Uint8Array): Promise<{ location: string; sha256: string }> {
    const objm = new Objm(this.nc);
    const os = await objm.create(ARTIFACT_BUCKET, { description: "nex-ts artifacts uploaded by nex devrun" });
    const safeKey = `${this.namespace}/${key}`;
    await os.putBlob({ name: safeKey }, bytes);
    return { location: `nats://${ARTIFACT_BUCKET}/${safeKey}`, sha256: createHash("sha256").update(bytes).digest("hex") };
  }

  /** Sends a request to a function or service; throws a NexError when the reply is an error reply. */
  async invoke(subject: string, payload: Uint8Array | string, opts: { headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<Msg> {
    let h: MsgHdrs | undefined;
    if (opts.headers) {
      h = natsHeaders();
      for (const [k, v] of Object.entries(opts.headers)) h.set(k, v);
    }
    let msg: Msg;
    try {
      msg = await this.nc.request(subject, payload, { timeout: opts.timeoutMs ?? this.timeoutMs, headers: h });
    } catch (err) {
      throw mapRequestError(err, `subject ${subject}`);
    }
    const e = errorFromReply(msg);
    if (e) throw e;
    return msg;
  }
}

/** What an auction asks of the bidders. */
export type AuctionOptions = RequestedLimits & { sandbox?: boolean; exclude?: string[] };

/** The limits of a request that are set, and only those (an auction names what the deploy will ask for). */
export function definedLimits(r: RequestedLimits): RequestedLimits {
  const out: RequestedLimits = {};
  if (r.memoryLimitMiB !== undefined) out.memoryLimitMiB = r.memoryLimitMiB;
  if (r.timeoutMs !== undefined) out.timeoutMs = r.timeoutMs;
  if (r.maxProcesses !== undefined) out.maxProcesses = r.maxProcesses;
  if (r.cpus !== undefined) out.cpus = r.cpus;
  return out;
}

/** The coded error carried by a reply, if it is an error reply. */
export function errorFromReply(msg: Msg): NexError | undefined {
  const h = msg.headers;
  if (!h) return undefined;
  const desc = h.get(Headers.ServiceError);
  const status = h.get(Headers.ServiceErrorCode);
  if (!desc && !status) return undefined;
  try {
    const body = JSON.parse(msg.string()) as unknown;
    return NexError.fromBody(body, desc || "error");
  } catch {
    const code = h.get(Headers.NexErrorCode);
    return NexError.fromBody({ code, message: desc || `error ${status}` });
  }
}

function decodeReply<T>(msg: Msg): T {
  const e = errorFromReply(msg);
  if (e) throw e;
  try {
    return msg.json<T>();
  } catch {
    throw new NexError("NEX_E_INTERNAL", `reply is not JSON: ${msg.string().slice(0, 200)}`);
  }
}

function mapRequestError(err: unknown, what: string): NexError {
  if (isNoResponders(err)) return new NexError("NEX_E_NO_NODES", `nothing is listening for ${what}`, { hint: "Check the subject, the node id, and that a node is running." });
  if (isTimeout(err)) {
    return new NexError("NEX_E_TIMEOUT", `${what} did not answer in time`);
  }
  return NexError.from(err);
}
