/**
 * A node's Prometheus metrics. Runners measure their functions (see `recorder.ts`); at each scrape the node asks them
 * for their counters over IPC, and this module turns the answers into prom-client metrics, summed per workload name
 * (labels `namespace`, `name`, `type`: no instance ids, so a redeploy does not start new series). What a stopped or
 * replaced instance counted is kept (`retire`), so counters never go back.
 *
 * ```ts
 * const m = new NodeMetrics(source);
 * m.retire(finalSample);             // when an instance stops
 * const text = await m.render();      // Prometheus text format
 * ```
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricType } from "prom-client";
import { DURATION_BUCKETS_SECONDS, addDurations, type DurationSnapshot } from "./durations.js";

/** One workload instance as the node reports it. */
export interface WorkloadSample {
  namespace: string;
  name: string;
  type: string;
  /** Functions are invoked; services are not. */
  kind: "function" | "service";
  invocations: number;
  failures: number;
  failuresByCode?: Record<string, number>;
  inFlight?: number;
  durations?: DurationSnapshot;
  restarts: number;
  memoryBytes?: number;
}

/** One runner process. */
export interface RunnerSample {
  namespace: string;
  type: string;
  /** Which of the namespace's runners of this type. */
  runner: number;
  rssBytes?: number;
  /** Invocations the process answered for the functions it holds now. */
  invocations?: number;
}

/** A fresh reading of the node. */
export interface NodeSample {
  workloads: WorkloadSample[];
  runners: RunnerSample[];
  natsReconnects: number;
}

/** Where the metrics come from: the node. */
export interface NodeMetricsSource {
  readonly nodeId: string;
  readonly nodeName: string;
  readonly version: string;
  /** Reads the node (asking its runners first). */
  sample(): Promise<NodeSample>;
}

type SeriesLabels = "namespace" | "name" | "type";

/** The sums of one series (one workload name and type in a namespace). */
interface Totals {
  labels: Record<SeriesLabels, string>;
  invocations: number;
  failures: Map<string, number>;
  restarts: number;
  durations?: DurationSnapshot;
}

function seriesKey(s: { namespace: string; name: string; type: string }): string {
  return `${s.namespace}\u0000${s.name}\u0000${s.type}`;
}

function emptyTotals(s: WorkloadSample): Totals {
  return { labels: { namespace: s.namespace, name: s.name, type: s.type }, invocations: 0, failures: new Map(), restarts: 0 };
}

function addSample(t: Totals, s: WorkloadSample): void {
  t.invocations += s.invocations;
  t.restarts += s.restarts;
  for (const [code, n] of Object.entries(s.failuresByCode ?? {})) t.failures.set(code, (t.failures.get(code) ?? 0) + n);
  t.durations = addDurations(t.durations, s.durations);
}

function copyTotals(t: Totals): Totals {
  return { labels: t.labels, invocations: t.invocations, failures: new Map(t.failures), restarts: t.restarts, durations: addDurations(t.durations, undefined) };
}

/** prom-client's typings declare the metric type as an enum its JavaScript does not export; the registry reads the name. */
const HISTOGRAM = "histogram" as unknown as MetricType;

/**
 * `nex_function_duration_seconds`: a histogram whose buckets the runners filled. prom-client has no way to set a
 * histogram's buckets, so this one reports the merged counts itself, in the shape prom-client's registry renders.
 */
class MergedHistogram extends Histogram<SeriesLabels> {
  series: Totals[] = [];
  private readonly metricName: string;
  private readonly metricHelp: string;

  constructor(cfg: ConstructorParameters<typeof Histogram<SeriesLabels>>[0]) {
    super(cfg);
    this.metricName = cfg.name;
    this.metricHelp = cfg.help;
  }

  private values(): { metricName: string; labels: Record<string, string | number>; value: number }[] {
    const out: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const t of this.series) {
      if (!t.durations) continue;
      let cumulative = 0;
      t.durations.counts.forEach((n, i) => {
        cumulative += n;
        const le = i < DURATION_BUCKETS_SECONDS.length ? DURATION_BUCKETS_SECONDS[i]! : "+Inf";
        out.push({ metricName: `${this.metricName}_bucket`, labels: { ...t.labels, le }, value: cumulative });
      });
      out.push({ metricName: `${this.metricName}_sum`, labels: t.labels, value: t.durations.sum });
      out.push({ metricName: `${this.metricName}_count`, labels: t.labels, value: cumulative });
    }
    return out;
  }

  /** What the registry renders (prom-client calls this one for the text format). */
  async getForPromString(): Promise<Awaited<ReturnType<Histogram<SeriesLabels>["get"]>>> {
    return { name: this.metricName, help: this.metricHelp, type: HISTOGRAM, aggregator: "sum", collect: () => undefined, values: this.values() };
  }

  override async get(): Promise<Awaited<ReturnType<Histogram<SeriesLabels>["get"]>>> {
    return this.getForPromString();
  }
}

/** The node's metrics registry. */
export class NodeMetrics {
  readonly registry = new Registry();
  private readonly retired = new Map<string, Totals>();
  private rendering: Promise<unknown> = Promise.resolve();
  private readonly m;

  constructor(private readonly source: NodeMetricsSource) {
    const registers = [this.registry];
    const labelNames = ["namespace", "name", "type"] as const;
    collectDefaultMetrics({ register: this.registry });
    this.m = {
      info: new Gauge({ name: "nex_node_info", help: "The node: 1, labelled with its id, name and version", labelNames: ["node_id", "node_name", "version"], registers }),
      workloads: new Gauge({ name: "nex_node_workloads", help: "Workloads running on the node", labelNames: ["namespace", "type"], registers }),
      runners: new Gauge({ name: "nex_node_runners", help: "Runner processes of the node", labelNames: ["type"], registers }),
      reconnects: new Counter({ name: "nex_node_nats_reconnects_total", help: "Times the node's NATS connection reconnected", registers }),
      runnerRss: new Gauge({ name: "nex_runner_resident_memory_bytes", help: "Resident memory of a runner process", labelNames: ["namespace", "type", "runner"], registers }),
      runnerInvocations: new Gauge({
        name: "nex_runner_invocations",
        help: "Invocations a runner process answered for the functions it holds now, since it started",
        labelNames: ["namespace", "type", "runner"],
        registers,
      }),
      invocations: new Counter({ name: "nex_function_invocations_total", help: "Function invocations", labelNames, registers }),
      failures: new Counter({ name: "nex_function_failures_total", help: "Failed function invocations, by error code", labelNames: [...labelNames, "code"], registers }),
      inFlight: new Gauge({ name: "nex_function_in_flight", help: "Function invocations running or waiting", labelNames, registers }),
      durations: new MergedHistogram({
        name: "nex_function_duration_seconds",
        help: "Function invocation time, from the message's arrival in the runner to its reply",
        labelNames,
        buckets: [...DURATION_BUCKETS_SECONDS],
        registers,
      }),
      restarts: new Counter({ name: "nex_workload_restarts_total", help: "Workload restarts (services) and runner restarts under a function", labelNames, registers }),
      memory: new Gauge({ name: "nex_workload_memory_bytes", help: "Memory a native workload uses (its cgroup, or its process without one)", labelNames, registers }),
    };
  }

  /** The content type of `render()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** An instance stopped: what it counted stays in its series. */
  retire(s: WorkloadSample): void {
    const key = seriesKey(s);
    let t = this.retired.get(key);
    if (!t) {
      t = emptyTotals(s);
      this.retired.set(key, t);
    }
    addSample(t, s);
  }

  /** Reads the node and renders every metric in the Prometheus text format. Scrapes run one at a time. */
  render(): Promise<string> {
    const run = this.rendering.catch(() => undefined).then(async () => {
      this.apply(await this.source.sample());
      return this.registry.metrics();
    });
    this.rendering = run;
    return run;
  }

  private apply(s: NodeSample): void {
    const m = this.m;
    m.info.reset();
    m.info.set({ node_id: this.source.nodeId, node_name: this.source.nodeName, version: this.source.version }, 1);
    m.reconnects.reset();
    m.reconnects.inc(s.natsReconnects);
    m.runners.reset();
    m.runnerRss.reset();
    m.runnerInvocations.reset();
    const runnersByType = new Map<string, number>();
    for (const r of s.runners) {
      runnersByType.set(r.type, (runnersByType.get(r.type) ?? 0) + 1);
      const labels = { namespace: r.namespace, type: r.type, runner: String(r.runner) };
      if (r.rssBytes !== undefined) m.runnerRss.set(labels, r.rssBytes);
      if (r.invocations !== undefined) m.runnerInvocations.set(labels, r.invocations);
    }
    for (const [type, n] of runnersByType) m.runners.set({ type }, n);
    this.applyWorkloads(s.workloads);
  }

  private applyWorkloads(list: WorkloadSample[]): void {
    const m = this.m;
    for (const g of [m.workloads, m.inFlight, m.memory, m.invocations, m.failures, m.restarts]) g.reset();
    const totals = new Map<string, Totals>();
    for (const [k, t] of this.retired) totals.set(k, copyTotals(t));
    const perType = new Map<string, { namespace: string; type: string; n: number }>();
    for (const w of list) {
      const key = seriesKey(w);
      let t = totals.get(key);
      if (!t) {
        t = emptyTotals(w);
        totals.set(key, t);
      }
      addSample(t, w);
      const tk = `${w.namespace}\u0000${w.type}`;
      const c = perType.get(tk) ?? { namespace: w.namespace, type: w.type, n: 0 };
      c.n++;
      perType.set(tk, c);
      if (w.inFlight !== undefined) m.inFlight.inc(t.labels, w.inFlight);
      if (w.memoryBytes !== undefined) m.memory.inc(t.labels, w.memoryBytes);
    }
    for (const c of perType.values()) m.workloads.set({ namespace: c.namespace, type: c.type }, c.n);
    const functions = new Set(list.filter((w) => w.kind === "function").map(seriesKey));
    for (const [key, t] of totals) {
      m.restarts.inc(t.labels, t.restarts);
      if (!functions.has(key) && t.durations === undefined && t.invocations === 0) continue;
      m.invocations.inc(t.labels, t.invocations);
      for (const [code, n] of t.failures) m.failures.inc({ ...t.labels, code }, n);
    }
    m.durations.series = [...totals.values()];
  }
}
