/** The node's side of `/metrics`: how a workload's counters become a sample, and what one scrape reads. */
import { VERSION, isFunctionType, type WorkloadSpec, type WorkloadType } from "../contract/index.js";
import type { NodeMetricsSource, NodeSample, WorkloadSample } from "../observe/metrics.js";
import type { Runtime, WorkloadStats } from "../runtimes/runtime.js";
import type { WorkloadManager } from "./workloads.js";

/** One instance's counters as a metrics sample. */
export function sampleOf(spec: WorkloadSpec, s: WorkloadStats): WorkloadSample {
  return {
    namespace: spec.namespace,
    name: spec.name,
    type: spec.type,
    kind: isFunctionType(spec.type) ? "function" : "service",
    invocations: s.invocations,
    failures: s.failures,
    failuresByCode: s.failuresByCode,
    inFlight: s.inFlight,
    durations: s.durations,
    restarts: s.restarts,
    memoryBytes: s.memoryBytes,
  };
}

/** What a scrape needs from the node. */
export interface NodeMetricsDeps {
  nodeId: string;
  nodeName: string;
  workloads: WorkloadManager;
  runtimes: Map<WorkloadType, Runtime>;
  natsReconnects: () => number;
}

/** The node as a metrics source: each sample asks the runners for fresh counters first. */
export function metricsSource(d: NodeMetricsDeps): NodeMetricsSource {
  return {
    nodeId: d.nodeId,
    nodeName: d.nodeName,
    version: VERSION,
    async sample(): Promise<NodeSample> {
      await d.workloads.refreshStats();
      const runners = [...d.runtimes].flatMap(([type, rt]) =>
        (rt.processes?.() ?? []).map((p) => ({ namespace: p.namespace, type, runner: p.runner, rssBytes: p.rssBytes, invocations: p.invocations })),
      );
      return {
        workloads: d.workloads.current().map((w) => sampleOf(w.spec, w.stats)),
        runners,
        natsReconnects: d.natsReconnects(),
      };
    },
  };
}
