/**
 * Everything a runner measures about one function, in one place: counts, failures by code, durations and recent
 * activity. Recording an invocation is a few additions and stores, with no allocation; the numbers are read (and
 * only then copied) when the node asks for stats.
 *
 * ```ts
 * const rec = new FunctionRecorder();
 * const t0 = performance.now();
 * rec.ok(t0, performance.now(), "echo");
 * rec.counters({ state: "running", restarts: 0 }, inFlight);
 * ```
 */
import { ActivityLog, type FailureLike } from "./activity.js";
import { DurationRecorder, type DurationSnapshot } from "./durations.js";

/** The counters of one function, as the runner reports them. */
export interface FunctionCounters {
  invocations: number;
  failures: number;
  failuresByCode: Record<string, number>;
  inFlight: number;
  durations: DurationSnapshot;
  latencyMs?: { p50: number; p99: number };
  lastError?: string;
}

/** What one function's runner measured. */
export class FunctionRecorder {
  invocations = 0;
  failures = 0;
  private readonly byCode: Record<string, number> = {};
  private lastError: string | undefined;
  private readonly durations = new DurationRecorder();
  readonly activity = new ActivityLog();

  /** An invocation arrived. */
  arrived(): void {
    this.invocations++;
  }

  /** An invocation was answered. */
  ok(t0: number, t1: number, subject: string): void {
    this.durations.record(t0, t1);
    this.activity.invocation(t0, t1, subject, "ok");
  }

  /** An invocation failed. */
  failed(t0: number, t1: number, subject: string, err: FailureLike): void {
    this.failures++;
    this.byCode[err.code] = (this.byCode[err.code] ?? 0) + 1;
    this.lastError = `${err.code}: ${err.message}`;
    this.durations.record(t0, t1);
    this.activity.invocation(t0, t1, subject, err.code);
    this.activity.error(t0, subject, err);
  }

  /** A copy of the counters. */
  counters(inFlight: number): FunctionCounters {
    const out: FunctionCounters = {
      invocations: this.invocations,
      failures: this.failures,
      failuresByCode: { ...this.byCode },
      inFlight,
      durations: this.durations.snapshot(),
    };
    const latency = this.durations.latencyMs();
    if (latency) out.latencyMs = latency;
    if (this.lastError !== undefined) out.lastError = this.lastError;
    return out;
  }
}

