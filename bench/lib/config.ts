/** Command-line settings of `npm run bench`: the full run, or `--quick` for a fast look. */

/** Every section's name, in run order. */
export const SECTIONS = ["latency", "throughput", "coldstart", "density", "design"] as const;
/** One section. */
export type Section = (typeof SECTIONS)[number];

/** Sizes of one run. */
export interface BenchConfig {
  quick: boolean;
  sections: Section[];
  latencyRequests: number;
  warmupRequests: number;
  throughputSeconds: number;
  requesters: number;
  coldStarts: number;
  cliRuns: number;
  densityFunctions: number;
  /** Evicted functions called one after the other for the wake latency. */
  wakeSample: number;
  /** Where latest.json and latest.md go; empty means do not write. */
  outDir: string;
}

const FULL = { latencyRequests: 10_000, warmupRequests: 1_000, throughputSeconds: 10, requesters: 50, coldStarts: 20, cliRuns: 10, densityFunctions: 10_000, wakeSample: 200 };
const QUICK = { latencyRequests: 1_000, warmupRequests: 200, throughputSeconds: 2, requesters: 50, coldStarts: 5, cliRuns: 3, densityFunctions: 200, wakeSample: 50 };

/** The usage text. */
export const USAGE = `usage: npm run bench -- [--quick] [--only=latency,throughput,coldstart,density,design] [--no-write]
  --quick     short runs: ${QUICK.latencyRequests} requests, ${QUICK.throughputSeconds} s throughput, ${QUICK.coldStarts} cold starts, ${QUICK.densityFunctions} functions
  --only      run only these sections
  --no-write  print the table without writing bench/results/`;

/** Parses argv (after the script name). */
export function parseArgs(argv: string[], resultsDir: string): BenchConfig {
  let quick = false;
  let sections: Section[] = [...SECTIONS];
  let write = true;
  for (const a of argv) {
    if (a === "--quick") quick = true;
    else if (a === "--no-write") write = false;
    else if (a.startsWith("--only=")) {
      const want = a.slice("--only=".length).split(",").map((s) => s.trim());
      for (const w of want) if (!(SECTIONS as readonly string[]).includes(w)) throw new Error(`unknown section "${w}"\n${USAGE}`);
      sections = SECTIONS.filter((s) => want.includes(s));
    } else throw new Error(`unknown argument "${a}"\n${USAGE}`);
  }
  return { quick, sections, ...(quick ? QUICK : FULL), outDir: write ? resultsDir : "" };
}
