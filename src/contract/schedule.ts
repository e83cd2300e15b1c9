/**
 * Schedules: when a scheduled function runs. Two forms, both in UTC:
 *
 * - cron, five fields (minute hour day-of-month month day-of-week) or six with seconds first, or a nickname
 *   (`@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`), parsed by croner;
 * - `@every <duration>` (`@every 30s`, `@every 5m`), ticking on multiples of the interval since the Unix epoch, so
 *   every node computes the same tick times without talking to the others.
 *
 * ```ts
 * const s = parseSchedule("*\/5 * * * *");
 * nextTick(s, Date.parse("2026-01-01T00:03:10Z")); // Date.parse("2026-01-01T00:05:00Z")
 * ```
 */
import { Cron } from "croner";
import { NexError } from "./errors.js";

/** A parsed schedule. */
export type Schedule = { kind: "cron"; expr: string; cron: Cron } | { kind: "every"; ms: number };

/** The shortest interval a schedule may have. */
export const MIN_SCHEDULE_MS = 1_000;

/** The longest `@every` interval (a year). */
export const MAX_EVERY_MS = 366 * 86_400_000;

const NICKNAMES = new Set(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]);
const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function bad(expr: string, why: string): NexError {
  return new NexError("NEX_E_BAD_REQUEST", `schedule ${JSON.stringify(expr.slice(0, 80))}: ${why}`, {
    hint: 'Use cron in UTC ("*/5 * * * *", or six fields with seconds first), a nickname such as @hourly, or "@every 30s".',
  });
}

/** Parses a schedule; throws NEX_E_BAD_REQUEST naming what is wrong. */
export function parseSchedule(expr: string): Schedule {
  const text = expr.trim().replace(/\s+/g, " ");
  if (text.length === 0) throw bad(expr, "is empty");
  const every = /^@every (\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text);
  if (every) {
    const ms = Math.round(Number(every[1]) * UNITS[every[2]!]!);
    if (ms < MIN_SCHEDULE_MS) throw bad(expr, `the interval must be at least ${MIN_SCHEDULE_MS / 1000}s`);
    if (ms > MAX_EVERY_MS) throw bad(expr, "the interval must be at most 366d");
    return { kind: "every", ms };
  }
  if (text.startsWith("@every")) throw bad(expr, 'write "@every" and one duration, such as "@every 30s"');
  if (text.startsWith("@") && !NICKNAMES.has(text.toLowerCase())) throw bad(expr, "is not a known nickname");
  if (!text.startsWith("@")) {
    const fields = text.split(" ").length;
    if (fields !== 5 && fields !== 6) throw bad(expr, `has ${fields} fields; cron has 5, or 6 with seconds first`);
  }
  let cron: Cron;
  try {
    cron = new Cron(text, { timezone: "UTC", paused: true });
  } catch (err) {
    throw bad(expr, (err as Error).message.replace(/^CronPattern: /, ""));
  }
  if (cron.nextRun() === null) throw bad(expr, "never runs");
  return { kind: "cron", expr: text, cron };
}

/** The first tick strictly after `afterMs` (epoch milliseconds), or undefined when there is none. */
export function nextTick(s: Schedule, afterMs: number): number | undefined {
  if (s.kind === "every") return (Math.floor(afterMs / s.ms) + 1) * s.ms;
  // croner works in whole seconds: a tick at `afterMs` itself is not "after" it.
  const next = s.cron.nextRun(new Date(afterMs));
  return next ? next.getTime() : undefined;
}
