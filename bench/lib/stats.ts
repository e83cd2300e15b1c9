/** Small statistics and formatting helpers for the benchmark tables. */

/** The q-th quantile (0..1) of `xs`, nearest-rank; NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** p50 and p99 of a sample. */
export function summarize(xs: readonly number[]): { p50: number; p99: number } {
  return { p50: quantile(xs, 0.5), p99: quantile(xs, 0.99) };
}

/** Rounds to `digits` decimals. */
export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A duration in µs, shown in µs or ms. */
export function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return "-";
  return us >= 10_000 ? `${round(us / 1000, 1)} ms` : `${Math.round(us)} µs`;
}

/** A duration in ms. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  return ms >= 100 ? `${Math.round(ms)} ms` : `${round(ms, 1)} ms`;
}

/** A ratio like `1.42×`. */
export function fmtRatio(r: number | undefined): string {
  return r === undefined || !Number.isFinite(r) ? "-" : `${round(r, 2)}×`;
}

/** Bytes as MiB. */
export function fmtMiB(bytes: number): string {
  return `${round(bytes / 1024 / 1024, 1)} MiB`;
}

/** A plain-text table with aligned columns (the first column left, the others right). */
export function textTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? "")].length)));
  const pad = (s: string, i: number): string => {
    const fill = " ".repeat(Math.max(0, widths[i]! - [...s].length));
    return i === 0 ? s + fill : fill + s;
  };
  const line = (r: string[]): string => r.map((c, i) => pad(c, i)).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** A Markdown table. */
export function mdTable(head: string[], rows: string[][]): string {
  const esc = (s: string): string => s.replace(/\|/g, "\\|");
  return [
    `| ${head.map(esc).join(" | ")} |`,
    `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`,
    ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}
