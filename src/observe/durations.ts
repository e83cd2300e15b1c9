/**
 * Invocation durations, recorded where they happen (the runner's hot path) at the cost of a binary search and three
 * additions, without allocating. Two views of the same observations:
 * - cumulative counts per Prometheus bucket (`DURATION_BUCKETS_SECONDS`), which the node merges into `/metrics`;
 * - fine log-spaced buckets in six ten-second windows, from which the last minute's p50 and p99 are read.
 *
 * ```ts
 * const d = new DurationRecorder();
 * const t0 = performance.now();
 * d.record(t0, performance.now());
 * d.snapshot();              // { counts, sum, count } in Prometheus buckets
 * d.latencyMs();             // { p50, p99 } over the last minute, or undefined when idle
 * ```
 */

/** Mantissas of the fine buckets in each decade: ratios of at most 1.33, so an interpolated quantile is within ~15%. */
const MANTISSAS = [1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8];

/** Normalizes `m × 10^e` so equal boundaries compare equal. */
function boundary(m: number, e: number): number {
  return Number((m * 10 ** e).toPrecision(6));
}

/** Upper bounds (seconds, inclusive) of the fine buckets: 10 µs to 60 s; one more bucket holds everything longer. */
const FINE: readonly number[] = (() => {
  const out: number[] = [];
  for (let e = -5; e <= 1; e++) for (const m of MANTISSAS) if (boundary(m, e) <= 60) out.push(boundary(m, e));
  return out;
})();

/** Upper bounds (seconds) of the Prometheus histogram `nex_function_duration_seconds`, `+Inf` aside. */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
].map((b) => Number(b.toPrecision(6)));

/** For each fine bucket, the Prometheus bucket it falls in (every Prometheus bound is also a fine bound). */
const FINE_TO_COARSE: Uint8Array = (() => {
  const map = new Uint8Array(FINE.length + 1);
  let c = 0;
  for (let i = 0; i <= FINE.length; i++) {
    const upper = i < FINE.length ? FINE[i]! : Infinity;
    while (c < DURATION_BUCKETS_SECONDS.length && DURATION_BUCKETS_SECONDS[c]! < upper) c++;
    map[i] = c;
  }
  return map;
})();

const WINDOW_MS = 10_000;
const WINDOWS = 6;

/** Cumulative durations in Prometheus buckets: `counts[i]` observations in bucket i (not cumulative over i). */
export interface DurationSnapshot {
  /** One count per bucket of `DURATION_BUCKETS_SECONDS`, then one for `+Inf`. */
  counts: number[];
  /** Sum of all observations, in seconds. */
  sum: number;
}

/** An empty snapshot. */
export function emptyDurations(): DurationSnapshot {
  return { counts: new Array<number>(DURATION_BUCKETS_SECONDS.length + 1).fill(0), sum: 0 };
}

/** `a + b`, bucket by bucket (a runner restart or a replaced instance adds to what came before). */
export function addDurations(a: DurationSnapshot | undefined, b: DurationSnapshot | undefined): DurationSnapshot | undefined {
  if (!a) return b && { counts: [...b.counts], sum: b.sum };
  if (!b) return { counts: [...a.counts], sum: a.sum };
  return { counts: a.counts.map((n, i) => n + (b.counts[i] ?? 0)), sum: a.sum + b.sum };
}

/** Index of the first fine bucket whose bound is at least `s` (FINE.length: longer than every bound). */
function fineIndex(s: number): number {
  let lo = 0;
  let hi = FINE.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (s <= FINE[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The durations of one function. */
export class DurationRecorder {
  private readonly coarse = new Float64Array(DURATION_BUCKETS_SECONDS.length + 1);
  private sum = 0;
  private readonly windows = Array.from({ length: WINDOWS }, () => new Uint32Array(FINE.length + 1));
  private readonly windowStart = new Float64Array(WINDOWS);
  private current = 0;
  private currentEnd: number;

  constructor(now: number = performance.now()) {
    this.windowStart[0] = now;
    this.currentEnd = now + WINDOW_MS;
  }

  /** One observation, from two `performance.now()` readings. */
  record(t0: number, t1: number): void {
    if (t1 >= this.currentEnd) this.rotate(t1);
    const s = (t1 - t0) / 1000;
    const i = fineIndex(s);
    this.windows[this.current]![i]!++;
    this.coarse[FINE_TO_COARSE[i]!]!++;
    this.sum += s;
  }

  /** Opens a fresh window at `now`, dropping the oldest. */
  private rotate(now: number): void {
    this.current = (this.current + 1) % WINDOWS;
    this.windows[this.current]!.fill(0);
    this.windowStart[this.current] = now;
    this.currentEnd = now + WINDOW_MS;
  }

  /** Cumulative counts since the function started. */
  snapshot(): DurationSnapshot {
    return { counts: Array.from(this.coarse), sum: this.sum };
  }

  /** p50 and p99 in milliseconds over about the last minute, or undefined when nothing ran in it. */
  latencyMs(now: number = performance.now()): { p50: number; p99: number } | undefined {
    const merged = new Float64Array(FINE.length + 1);
    let total = 0;
    for (let w = 0; w < WINDOWS; w++) {
      if (now - this.windowStart[w]! > WINDOWS * WINDOW_MS) continue;
      const win = this.windows[w]!;
      for (let i = 0; i < win.length; i++) {
        merged[i]! += win[i]!;
        total += win[i]!;
      }
    }
    if (total === 0) return undefined;
    return { p50: round(quantile(merged, total, 0.5) * 1000), p99: round(quantile(merged, total, 0.99) * 1000) };
  }
}

/** The q-quantile of fine-bucket counts, interpolated linearly inside its bucket (as Prometheus' histogram_quantile). */
function quantile(counts: Float64Array, total: number, q: number): number {
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i]!;
    if (n === 0 || seen + n < rank) {
      seen += n;
      continue;
    }
    if (i === FINE.length) return FINE[FINE.length - 1]!;
    const lower = i === 0 ? 0 : FINE[i - 1]!;
    return lower + (FINE[i]! - lower) * ((rank - seen) / n);
  }
  return FINE[FINE.length - 1]!;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** The fine bucket bounds, for tests. */
export const FINE_BUCKETS_SECONDS = FINE;
