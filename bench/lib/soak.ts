/**
 * The soak's bookkeeping: what every request became (the ledger), what the nodes said runs (status samples), and the
 * figures and tables made of them. Nothing here talks to NATS; `bench/soak.ts` feeds it.
 */
import { quantile, round, textTable } from "./stats.js";

/** A seeded random source (mulberry32), so a run's faults can be drawn again. */
export function rng(seed: number): { next(): number; between(lo: number, hi: number): number; pick<T>(xs: readonly T[]): T } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    between: (lo, hi) => lo + (hi - lo) * next(),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
  };
}

/** One workload the soak deploys and loads. */
export interface SoakWorkload {
  name: string;
  subject: string;
  replicas: number;
  kind: string;
}

const PENDING = 0;
const OK = 1;
const FAILED = 2;
const TIMED_OUT = 3;

interface WorkloadFigures {
  sent: number;
  answered: number;
  lostByCode: Map<string, number>;
  lastOkAt: number;
  longestGap: { ms: number; from: number; to: number };
  latencies: number[];
}

/**
 * Every request the soak sent, by sequence number: sent, answered (the first answer was the right one), lost (timed out
 * on the client or answered with an error, by code), and how many answers each got (more than one is a duplicate).
 */
export class Ledger {
  private readonly state: number[] = [];
  private readonly answers: number[] = [];
  private readonly workloadOf: number[] = [];
  private readonly sentAt: number[] = [];
  private readonly pending = new Set<number>();
  private readonly per: WorkloadFigures[];
  private seq = 0;
  duplicates = 0;
  lateAnswers = 0;
  private start = 0;

  constructor(
    readonly workloads: readonly SoakWorkload[],
    private readonly timeoutMs: number,
  ) {
    this.per = workloads.map(() => ({ sent: 0, answered: 0, lostByCode: new Map(), lastOkAt: 0, longestGap: { ms: 0, from: 0, to: 0 }, latencies: [] }));
  }

  /** Marks the start of the load: outages are counted from here. */
  begin(now: number): void {
    this.start = now;
    for (const w of this.per) w.lastOkAt = now;
  }

  /** Records a request about to be sent; returns its sequence number. */
  send(wl: number, now: number): number {
    const s = this.seq++;
    this.state[s] = PENDING;
    this.answers[s] = 0;
    this.workloadOf[s] = wl;
    this.sentAt[s] = now;
    this.pending.add(s);
    this.per[wl]!.sent++;
    return s;
  }

  /** An answer arrived for request `s`: `error` is its code, or undefined when it is the right reply. */
  answer(s: number, error: string | undefined, now: number): void {
    if (this.state[s] === undefined) return;
    const n = ++this.answers[s]!;
    if (n === 2) this.duplicates++;
    const st = this.state[s]!;
    if (st === TIMED_OUT) {
      this.lateAnswers++;
      return;
    }
    if (st !== PENDING) return;
    this.pending.delete(s);
    const w = this.per[this.workloadOf[s]!]!;
    if (error !== undefined) {
      this.state[s] = FAILED;
      bump(w.lostByCode, error);
      return;
    }
    this.state[s] = OK;
    w.answered++;
    w.latencies.push(now - this.sentAt[s]!);
    this.gap(w, now);
    w.lastOkAt = now;
  }

  /** Request `s` could not be sent at all. */
  failed(s: number, code: string): void {
    if (this.state[s] !== PENDING) return;
    this.pending.delete(s);
    this.state[s] = FAILED;
    bump(this.per[this.workloadOf[s]!]!.lostByCode, code);
  }

  /** Requests unanswered for longer than the client's timeout are lost. */
  sweep(now: number): void {
    for (const s of this.pending) {
      if (now - this.sentAt[s]! < this.timeoutMs) continue;
      this.pending.delete(s);
      this.state[s] = TIMED_OUT;
      bump(this.per[this.workloadOf[s]!]!.lostByCode, "timeout");
    }
  }

  private gap(w: WorkloadFigures, now: number): void {
    const ms = now - w.lastOkAt;
    if (ms > w.longestGap.ms) w.longestGap = { ms, from: w.lastOkAt - this.start, to: now - this.start };
  }

  /** The figures at the end of the load (`end`: when the last request was sent). */
  figures(end: number): LoadFigures {
    const perWorkload = this.workloads.map((wl, i) => {
      const w = this.per[i]!;
      this.gap(w, end);
      const lost = [...w.lostByCode.values()].reduce((a, b) => a + b, 0);
      return {
        name: wl.name,
        kind: wl.kind,
        subject: wl.subject,
        replicas: wl.replicas,
        sent: w.sent,
        answered: w.answered,
        lost,
        lostByCode: Object.fromEntries([...w.lostByCode.entries()].sort()),
        longestOutageMs: Math.round(w.longestGap.ms),
        longestOutageAt: { fromS: round(w.longestGap.from / 1000), toS: round(w.longestGap.to / 1000) },
        latencyMs: { p50: round(quantile(w.latencies, 0.5), 2), p99: round(quantile(w.latencies, 0.99), 2) },
      };
    });
    const lostByCode = new Map<string, number>();
    for (const w of this.per) for (const [c, n] of w.lostByCode) lostByCode.set(c, (lostByCode.get(c) ?? 0) + n);
    return {
      sent: this.seq,
      answered: perWorkload.reduce((a, w) => a + w.answered, 0),
      lost: perWorkload.reduce((a, w) => a + w.lost, 0),
      unsettled: this.pending.size,
      lostByCode: Object.fromEntries([...lostByCode.entries()].sort()),
      duplicates: this.duplicates,
      lateAnswers: this.lateAnswers,
      perWorkload,
    };
  }
}

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

/** What the requests became. */
export interface LoadFigures {
  sent: number;
  answered: number;
  lost: number;
  /** Neither answered nor timed out when the figures were taken (0 once the last timeout passed). */
  unsettled: number;
  lostByCode: Record<string, number>;
  /** Requests that got more than one answer. */
  duplicates: number;
  /** Answers that came after the client had given up (the request counts as lost). */
  lateAnswers: number;
  perWorkload: {
    name: string;
    kind: string;
    subject: string;
    replicas: number;
    sent: number;
    answered: number;
    lost: number;
    lostByCode: Record<string, number>;
    longestOutageMs: number;
    /** Seconds since the start of the load. */
    longestOutageAt: { fromS: number; toS: number };
    latencyMs: { p50: number; p99: number };
  }[];
}

/** One status sample: how many distinct instances of each workload the nodes said were running. */
export interface Sample {
  /** ms since the start of the load. */
  t: number;
  /** The status request failed (no node answered in time). */
  failed: boolean;
  /** Live nodes (by the others' view) that did not answer this sample. */
  missingNodes: number;
  running: Record<string, number>;
}

/** A fault the soak caused. */
export interface Fault {
  kind: "server" | "node";
  target: string;
  /** When it was killed and when it ran again, in s since the start of the load. */
  killedS: number;
  backS: number | undefined;
  /** Streams whose leader it was, when known. */
  leaderOf?: string[];
}

/** What the samples say, per workload and over all of them. */
export function sampleFigures(workloads: readonly SoakWorkload[], samples: readonly Sample[]): SampleFigures {
  const good = samples.filter((s) => !s.failed);
  const per = workloads.map((w) => {
    const counts = good.map((s) => s.running[w.name] ?? 0);
    return {
      name: w.name,
      replicas: w.replicas,
      secondsMore: counts.filter((c) => c > w.replicas).length,
      secondsFewer: counts.filter((c) => c < w.replicas).length,
      secondsNone: counts.filter((c) => c === 0).length,
      mostSeen: counts.length ? Math.max(...counts) : 0,
    };
  });
  const anyMore = good.filter((s) => workloads.some((w) => (s.running[w.name] ?? 0) > w.replicas)).length;
  const anyFewer = good.filter((s) => workloads.some((w) => (s.running[w.name] ?? 0) < w.replicas)).length;
  // Spans of consecutive samples in which a workload ran more, or fewer, instances than wanted.
  const episodes: Episode[] = [];
  for (const w of workloads) {
    let open: Episode | undefined;
    for (const s of good) {
      const c = s.running[w.name] ?? 0;
      const kind = c > w.replicas ? "more" : c < w.replicas ? "fewer" : undefined;
      if (open && open.kind === kind) {
        open.toS = round(s.t / 1000);
        open.most = Math.max(open.most, c);
        open.least = Math.min(open.least, c);
        continue;
      }
      open = kind ? { name: w.name, kind, fromS: round(s.t / 1000), toS: round(s.t / 1000), most: c, least: c } : undefined;
      if (open) episodes.push(open);
    }
  }
  episodes.sort((a, b) => a.fromS - b.fromS);
  return { taken: samples.length, failed: samples.length - good.length, incomplete: good.filter((s) => s.missingNodes > 0).length, anyMore, anyFewer, perWorkload: per, episodes };
}

/** A span of samples in which a workload ran more (or fewer) instances than wanted. */
export interface Episode {
  name: string;
  kind: "more" | "fewer";
  /** The first and last sample of the span, in s since the start of the load. */
  fromS: number;
  toS: number;
  most: number;
  least: number;
}

/** Status samples, summed up. A sample is one second. */
export interface SampleFigures {
  taken: number;
  failed: number;
  /** Samples some live node did not answer (its instances are missing from them). */
  incomplete: number;
  /** Seconds in which any workload had more (fewer) instances running than its replicas. */
  anyMore: number;
  anyFewer: number;
  perWorkload: { name: string; replicas: number; secondsMore: number; secondsFewer: number; secondsNone: number; mostSeen: number }[];
  episodes: Episode[];
}

/** True when every workload runs exactly its replicas in `s`. */
export function exact(workloads: readonly SoakWorkload[], s: Sample): boolean {
  return !s.failed && workloads.every((w) => (s.running[w.name] ?? 0) === w.replicas);
}

/**
 * How long after `fromS` the workloads settled for good: the time of the first sample after which every sample is
 * exact. Undefined when the last sample is not exact.
 */
export function settledAfter(workloads: readonly SoakWorkload[], samples: readonly Sample[], fromS: number): number | undefined {
  const last = samples.at(-1);
  if (!last || !exact(workloads, last)) return undefined;
  let i = samples.length - 1;
  while (i > 0 && exact(workloads, samples[i - 1]!) && samples[i - 1]!.t / 1000 >= fromS) i--;
  return Math.max(0, round(samples[i]!.t / 1000 - fromS));
}

/** The whole report. */
export interface SoakReport {
  date: string;
  machine: { cpu: string; cores: number; memoryGiB: number; os: string; node: string; natsServer: string };
  settings: { minutes: number; seed: number; ratePerS: number; timeoutMs: number; heartbeat: string; servers: number; nodes: number };
  notes: string[];
  load: LoadFigures;
  samples: SampleFigures;
  faults: Fault[];
  convergence: { lastKillS: number | undefined; lastBackS: number | undefined; afterLastKillS: number | undefined; afterLastBackS: number | undefined };
  finalCheck: { ok: boolean; withinS: number | undefined; running: Record<string, number> };
}

/** The report as text tables. */
export function renderSoak(r: SoakReport): string {
  const s = r.settings;
  const out: string[] = [];
  out.push(`soak ${r.date}: ${s.minutes} min, seed ${s.seed}, ${s.ratePerS} req/s, client timeout ${s.timeoutMs} ms, heartbeat ${s.heartbeat}, ${s.servers} servers, ${s.nodes} nodes`);
  out.push(`machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGiB} GiB, Node ${r.machine.node}, nats-server ${r.machine.natsServer}`);
  for (const n of r.notes) out.push(`note: ${n}`);
  out.push("");
  const codes = (m: Record<string, number>): string => Object.entries(m).map(([c, n]) => `${c} ${n}`).join(", ") || "-";
  const l = r.load;
  const sf = new Map(r.samples.perWorkload.map((w) => [w.name, w]));
  out.push(
    textTable(
      ["workload", "replicas", "sent", "answered", "lost", "lost by code", "longest outage", "p50 / p99", "s more", "s fewer", "s none", "most seen"],
      [
        ...l.perWorkload.map((w) => {
          const x = sf.get(w.name);
          return [
            `${w.name} (${w.kind})`,
            String(w.replicas),
            String(w.sent),
            String(w.answered),
            String(w.lost),
            codes(w.lostByCode),
            `${round(w.longestOutageMs / 1000)} s (${w.longestOutageAt.fromS}–${w.longestOutageAt.toS})`,
            `${w.latencyMs.p50} / ${w.latencyMs.p99} ms`,
            String(x?.secondsMore ?? "-"),
            String(x?.secondsFewer ?? "-"),
            String(x?.secondsNone ?? "-"),
            String(x?.mostSeen ?? "-"),
          ];
        }),
        ["all", "", String(l.sent), String(l.answered), String(l.lost), codes(l.lostByCode), "", "", String(r.samples.anyMore), String(r.samples.anyFewer), "", ""],
      ],
    ),
  );
  out.push("");
  out.push(`duplicates (requests answered more than once): ${l.duplicates}; answers after the client's timeout: ${l.lateAnswers}; unsettled: ${l.unsettled}`);
  out.push(`status samples: ${r.samples.taken} (${r.samples.failed} failed, ${r.samples.incomplete} with a live node missing)`);
  out.push("");
  out.push(
    textTable(
      ["fault", "target", "killed at", "back at", "down", "leader of"],
      r.faults.map((f) => [f.kind, f.target, `${f.killedS} s`, f.backS === undefined ? "-" : `${f.backS} s`, f.backS === undefined ? "-" : `${round(f.backS - f.killedS)} s`, f.leaderOf?.join(", ") || "-"]),
    ),
  );
  out.push("");
  if (r.samples.episodes.length > 0) {
    out.push(
      textTable(
        ["off its replicas", "ran", "from", "to"],
        r.samples.episodes.map((e) => [e.name, e.kind === "more" ? `${e.most} (more)` : `${e.least} (fewer)`, `${e.fromS} s`, `${e.toS} s`]),
      ),
    );
    out.push("");
  }
  const c = r.convergence;
  const fmt = (x: number | undefined): string => (x === undefined ? "never" : `${x} s`);
  out.push(`converged ${fmt(c.afterLastKillS)} after the last kill (at ${c.lastKillS ?? "-"} s), ${fmt(c.afterLastBackS)} after the last restart (at ${c.lastBackS ?? "-"} s)`);
  const fc = r.finalCheck;
  out.push(`final check: ${fc.ok ? `every workload at exactly its replicas, within ${fc.withinS} s of the end of the load` : "FAILED"}: ${Object.entries(fc.running).map(([n, k]) => `${n} ${k}`).join(", ")}`);
  return out.join("\n");
}
