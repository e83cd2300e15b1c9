/** Timing loops shared by the in-process profiling tools. */

/** One call to time. */
export type Call = () => Promise<unknown>;

/** Requests in flight for the concurrent loop. */
export const CONCURRENCY = 50;

/** Mean µs per call over `n` sequential calls, after a warm-up. */
export async function sequential(call: Call, n: number): Promise<number> {
  for (let i = 0; i < Math.min(1_000, n); i++) await call();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await call();
  return ((performance.now() - t0) * 1000) / n;
}

/** Calls per second with CONCURRENCY calls in flight. */
export async function concurrent(call: Call, n: number): Promise<number> {
  let left = n;
  const t0 = performance.now();
  const loop = async (): Promise<void> => {
    while (left-- > 0) await call();
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  return n / ((performance.now() - t0) / 1000);
}
