/** Counters of one function across the runners that held it: what dead runners counted plus the live one's. */
import { addDurations } from "../../observe/durations.js";
import type { WorkloadStats } from "../runtime.js";

/** `base + live`: sums of counts; state, in-flight and latency are the live runner's; the newest last error wins. */
export function addStats(base: WorkloadStats | undefined, live: WorkloadStats): WorkloadStats {
  if (!base) return live;
  const byCode: Record<string, number> = { ...base.failuresByCode };
  for (const [code, n] of Object.entries(live.failuresByCode ?? {})) byCode[code] = (byCode[code] ?? 0) + n;
  const out: WorkloadStats = {
    ...live,
    invocations: base.invocations + live.invocations,
    failures: base.failures + live.failures,
    restarts: base.restarts + live.restarts,
    failuresByCode: byCode,
  };
  const durations = addDurations(base.durations, live.durations);
  if (durations) out.durations = durations;
  const lastError = live.lastError ?? base.lastError;
  if (lastError !== undefined) out.lastError = lastError;
  return out;
}

/** How much a state says the function serves: the first in this list that one runner has is the function's. */
const STATE_ORDER: WorkloadStats["state"][] = ["running", "starting", "backoff", "stopping", "failed", "exited", "stopped"];

/**
 * One function's counters across the runners that hold it at once: sums of counts, durations and in-flight; the
 * state of the runner that serves best (running when any runs it); the larger latency percentiles; the first last
 * error.
 */
export function sumStats(list: WorkloadStats[]): WorkloadStats {
  const [first, ...rest] = list;
  if (!first) return { state: "stopped", invocations: 0, failures: 0, restarts: 0 };
  if (rest.length === 0) return first;
  const out: WorkloadStats = { ...first, failuresByCode: { ...first.failuresByCode } };
  for (const s of rest) {
    out.invocations += s.invocations;
    out.failures += s.failures;
    out.restarts += s.restarts;
    for (const [code, n] of Object.entries(s.failuresByCode ?? {})) out.failuresByCode![code] = (out.failuresByCode![code] ?? 0) + n;
    if (STATE_ORDER.indexOf(s.state) < STATE_ORDER.indexOf(out.state)) out.state = s.state;
    if (s.inFlight !== undefined) out.inFlight = (out.inFlight ?? 0) + s.inFlight;
    const durations = addDurations(out.durations, s.durations);
    if (durations) out.durations = durations;
    if (s.latencyMs) out.latencyMs = out.latencyMs ? { p50: Math.max(out.latencyMs.p50, s.latencyMs.p50), p99: Math.max(out.latencyMs.p99, s.latencyMs.p99) } : s.latencyMs;
    if (out.lastError === undefined && s.lastError !== undefined) out.lastError = s.lastError;
  }
  return out;
}
