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
