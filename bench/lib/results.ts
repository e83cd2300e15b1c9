/** The shape of one benchmark run, as written to bench/results/latest.json. */
import type { Machine } from "./proc.js";

/** A row that could not be measured, and why. */
export interface NotAvailable {
  na: string;
}

/** Section 1: one workload's sequential latency. */
export type LatencyRow = { name: string; key: string } & ({ n: number; p50Us: number; p99Us: number; ratioP50?: number; errors: number; firstError?: string } | NotAvailable);

/** Section 2: one workload's throughput. */
export type ThroughputRow = { name: string; key: string } & ({ rps: number; ratio?: number; ok: number; errors: number; firstError?: string } | NotAvailable);

/** Section 3: deploy request → first good reply, for one workload type. */
export type ColdStartRow = { name: string; key: string } & ({ n: number; p50Ms: number; p99Ms: number; nodeP50Ms: number; nodeP99Ms: number } | NotAvailable);

/** Section 3: the same through the CLI (`nex devrun` then `nex req`, as subprocesses). */
export type CliRow = { name: string; key: string } & ({ n: number; p50Ms: number; p99Ms: number; runsFrom: string } | NotAvailable);

/** Section 4. */
export interface DensityResult {
  functions: number;
  deploySeconds: number;
  deployP50Ms: number;
  deployP99Ms: number;
  /** p50 of the first and of the last tenth of the deploys: does a deploy cost more with more workloads? */
  deployFirstP50Ms: number;
  deployLastP50Ms: number;
  /** The node's idle eviction time. */
  idleEvictMs: number;
  /** How long after the last deploy every function was reported idle. */
  evictedAfterSeconds: number;
  rssBeforeBytes: number;
  /** Right after the last deploy (functions deployed in the last `idleEvictMs` still hold their isolate). */
  rssDeployedBytes: number;
  /** Once every function is idle. */
  rssAfterBytes: number;
  rssPerFunctionBytes: number;
  processes: number;
  /** First call after eviction, one function after another: with a pause between them, and back to back. */
  wake: { n: number; p50Ms: number; p99Ms: number; errors: number };
  wakeBackToBack: { n: number; p50Ms: number; p99Ms: number; errors: number };
  answeredOnce: number;
  missing: number;
  duplicates: number;
  /** Replies that were errors (counted apart from the answers). */
  errors: number;
  /** How long the answers to one message for every function took, all of them waking at once. */
  askSeconds: number;
}

/** Section 5: one way of running the JS echo. */
export type DesignRow = { name: string; key: string } & ({ p50Us: number; p99Us: number; rps: number; ratioP50?: number; n: number; throughputErrors?: number } | NotAvailable);

/** A goal and how the run did. */
export interface TargetCheck {
  goal: string;
  measured: string;
  ok: boolean | undefined;
}

/** One run. */
export interface BenchResults {
  date: string;
  quick: boolean;
  machine: Machine;
  config: Record<string, unknown>;
  latency: LatencyRow[];
  throughput: ThroughputRow[];
  coldStart: ColdStartRow[];
  cli: CliRow[];
  density?: DensityResult | NotAvailable;
  design: DesignRow[];
  targets: TargetCheck[];
}

/** True for a measured row. */
export function measured<T extends object>(r: T | NotAvailable): r is T {
  return !("na" in r);
}
