/**
 * What a function did lately, for `nex inspect`: its last invocations (a ring of preallocated entries, so recording
 * one writes four fields and allocates nothing) and its last failures, with the stack its code threw.
 *
 * ```ts
 * const a = new ActivityLog();
 * a.invocation(t0, t1, "echo", "ok");
 * a.error(t1, "echo", err);
 * a.read();   // { recentInvocations, recentErrors }, oldest first
 * ```
 */
import type { ErrorCode, ErrorRecord, InvocationRecord } from "../contract/index.js";

/** Invocations kept per function. */
export const RECENT_INVOCATIONS = 50;
/** Failures kept per function. */
export const RECENT_ERRORS = 10;
/** Longest stack kept with a failure. */
const MAX_STACK_CHARS = 4_096;

interface Slot {
  t0: number;
  ms: number;
  subject: string;
  outcome: "ok" | ErrorCode;
}

/** A failure, as the runner saw it. */
export interface FailureLike {
  code: ErrorCode;
  message: string;
  cause?: unknown;
}

/** Times are `performance.now()` readings; this turns one into wall-clock time. */
function wallTime(t: number): string {
  return new Date(performance.timeOrigin + t).toISOString();
}

/** The stack the function's own code threw with, when the failure carries one (see the v8 engine's user errors). */
export function userStack(err: FailureLike): string | undefined {
  const c = err.cause as { stack?: unknown } | undefined;
  if (c === null || typeof c !== "object" || typeof c.stack !== "string" || c.stack.length === 0) return undefined;
  // Frames of the runtime's own scripts (`nex:invoker`, …) say nothing about the function.
  const stack = c.stack
    .split("\n")
    .filter((l) => !/^\s+at (.*\()?nex:[a-z]+:\d+:\d+\)?$/.test(l))
    .join("\n");
  return stack.length > MAX_STACK_CHARS ? `${stack.slice(0, MAX_STACK_CHARS)}…` : stack;
}

/** Recent invocations and failures of one function. */
export class ActivityLog {
  private readonly slots: Slot[] = Array.from({ length: RECENT_INVOCATIONS }, () => ({ t0: 0, ms: 0, subject: "", outcome: "ok" as const }));
  private next = 0;
  private filled = 0;
  private readonly errors: ErrorRecord[] = [];

  /** One invocation that settled. */
  invocation(t0: number, t1: number, subject: string, outcome: "ok" | ErrorCode): void {
    const s = this.slots[this.next]!;
    s.t0 = t0;
    s.ms = t1 - t0;
    s.subject = subject;
    s.outcome = outcome;
    if (++this.next === RECENT_INVOCATIONS) this.next = 0;
    if (this.filled < RECENT_INVOCATIONS) this.filled++;
  }

  /** One failure (its invocation is recorded separately). */
  error(t: number, subject: string, err: FailureLike): void {
    const stack = userStack(err);
    const rec: ErrorRecord = { time: wallTime(t), code: err.code, message: err.message, subject };
    if (stack) rec.stack = stack;
    this.errors.push(rec);
    if (this.errors.length > RECENT_ERRORS) this.errors.shift();
  }

  /** Everything kept, oldest first. */
  read(): { recentInvocations: InvocationRecord[]; recentErrors: ErrorRecord[] } {
    const out: InvocationRecord[] = [];
    const start = (this.next - this.filled + RECENT_INVOCATIONS) % RECENT_INVOCATIONS;
    for (let k = 0; k < this.filled; k++) {
      const s = this.slots[(start + k) % RECENT_INVOCATIONS]!;
      out.push({ time: wallTime(s.t0), durationMs: Math.round(s.ms * 1000) / 1000, subject: s.subject, outcome: s.outcome });
    }
    return { recentInvocations: out, recentErrors: [...this.errors] };
  }
}
