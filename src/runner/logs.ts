/**
 * Log caps for one function: lines per invocation, bytes per second, and the length of one line. What is over a cap
 * is dropped and counted, and one notice line says how many lines went: when the invocation that dropped them
 * settles, or, for lines dropped while no invocation runs, at the end of that one-second window.
 *
 * ```ts
 * const logs = new LogLimiter(limits, (stream, line) => publish(stream, line));
 * logs.begin(); logs.line("stdout", "hello"); logs.end();
 * ```
 */
import type { LogStream } from "../contract/index.js";
import type { LogLimits } from "../runtimes/engine.js";

/** Where kept lines and notices go. */
export type LogSink = (stream: LogStream, line: string) => void;

/** What a cut line ends with. */
export const CUT_MARKER = " …[cut]";

const WINDOW_MS = 1_000;

/**
 * Lines of one function. Invocations may overlap, so lines are not attributed to one invocation: each invocation
 * adds `linesPerInvocation` to the allowance of the run of overlapping invocations it belongs to, which starts afresh
 * when none is running. Lines logged while no invocation runs (top-level code at deploy) share one allowance.
 */
export class LogLimiter {
  private open = 0;
  private allowance: number;
  private used = 0;
  private window = 0;
  private windowBytes = 0;
  private pending = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: LogLimits,
    private readonly sink: LogSink,
    private readonly now: () => number = Date.now,
  ) {
    this.allowance = limits.linesPerInvocation;
  }

  /** An invocation starts. */
  begin(): void {
    if (this.open === 0) {
      this.used = 0;
      this.allowance = 0;
    }
    this.open++;
    this.allowance += this.limits.linesPerInvocation;
  }

  /** An invocation settled: the notice for what it dropped, if anything. */
  end(): void {
    this.open = Math.max(0, this.open - 1);
    this.notice();
  }

  /** One line from the function: kept (cut to `lineBytes`) or dropped and counted. */
  line(stream: LogStream, text: string): void {
    if (this.used >= this.allowance) return this.drop(1);
    const kept = cut(text, this.limits.lineBytes);
    const bytes = Buffer.byteLength(kept);
    const t = this.now();
    if (t - this.window >= WINDOW_MS) {
      this.window = t;
      this.windowBytes = 0;
    }
    if (this.windowBytes + bytes > this.limits.bytesPerSecond) return this.drop(1);
    this.windowBytes += bytes;
    this.used++;
    this.sink(stream, kept);
  }

  /** Lines the engine dropped at the source (before they crossed a thread), counted with the others. */
  dropped(count: number): void {
    if (Number.isSafeInteger(count) && count > 0) this.drop(count);
  }

  /** Sends the last notice and stops the window timer. */
  close(): void {
    this.notice();
  }

  private drop(count: number): void {
    this.pending += count;
    // An invocation's end sends its notice; outside invocations the window's end does.
    if (this.open === 0) this.timer ??= setTimeout(() => this.notice(), WINDOW_MS).unref();
  }

  private notice(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending === 0) return;
    const n = this.pending;
    this.pending = 0;
    const { linesPerInvocation, bytesPerSecond } = this.limits;
    this.sink(
      "stderr",
      `[nex] ${n} log line${n === 1 ? "" : "s"} dropped: a function may log ${linesPerInvocation} lines per invocation and ${bytesPerSecond} bytes per second`,
    );
  }
}

/** `text` cut to at most `max` UTF-8 bytes (marker included), on a character boundary. */
export function cut(text: string, max: number): string {
  // Fast path: no string of this length can be longer than max bytes.
  if (text.length * 3 <= max) return text;
  const bytes = Buffer.from(text);
  if (bytes.length <= max) return text;
  const room = Math.max(0, max - Buffer.byteLength(CUT_MARKER));
  let end = room;
  // Back up over continuation bytes so the cut never splits a character.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString("utf8") + CUT_MARKER;
}
