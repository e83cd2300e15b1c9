/**
 * The dashboard's model, shared by the page (in the browser) and its tests: what the page server hands the page, rates
 * from successive LIST polls, workloads grouped by name, and bounded buffers of log lines and events. No DOM and no
 * Node here, so both sides compile it.
 *
 * ```ts
 * const rates = new Rates();
 * const rows = rates.update(Date.now(), await list());   // calls/s and errors/s since the previous poll
 * const byName = groupWorkloads(rows);
 * ```
 */
import type { NodeSummary, WorkloadState, WorkloadSummary, WorkloadType } from "../contract/index.js";

/** What the page connects to NATS with: one namespace's credentials, handed over loopback only, never written to disk. */
export interface PageAccess {
  namespace: string;
  /** Websocket URLs of NATS, as the browser reaches them. */
  servers: string[];
  /** A user JWT and its seed (a user minted for the page, or the credentials `nex ui` was given). */
  jwt?: string;
  seed?: string;
  nkeySeed?: string;
  user?: string;
  pass?: string;
  token?: string;
  /** The inbox prefix the page's user may receive replies on. */
  inboxPrefix?: string;
  /** When the credentials stop working (ISO time); the page fetches new ones when its connection closes. */
  expiresAt?: string;
}

/** A workload instance with the rates of its last poll interval (undefined on the first poll or after a restart). */
export interface WorkloadRow extends WorkloadSummary {
  callsPerSec?: number;
  errorsPerSec?: number;
}

interface Sample {
  at: number;
  invocations: number;
  failures: number;
  startedAt: string;
}

/** Per-second rate of a counter between two samples; undefined when there is no interval or the counter went back. */
export function rate(prev: number, cur: number, dtMs: number): number | undefined {
  if (!(dtMs > 0) || cur < prev) return undefined;
  return ((cur - prev) * 1000) / dtMs;
}

/** Turns successive LIST polls into rates, per workload instance. */
export class Rates {
  private last = new Map<string, Sample>();

  /** Adds a poll taken at `at` (ms) and returns its rows with rates; instances that are gone are forgotten. */
  update(at: number, list: readonly WorkloadSummary[]): WorkloadRow[] {
    const next = new Map<string, Sample>();
    const rows = list.map((w) => {
      const prev = this.last.get(w.id);
      next.set(w.id, { at, invocations: w.invocations, failures: w.failures, startedAt: w.startedAt });
      // A new start resets the counters: no rate across it.
      if (!prev || prev.startedAt !== w.startedAt) return { ...w };
      return { ...w, callsPerSec: rate(prev.invocations, w.invocations, at - prev.at), errorsPerSec: rate(prev.failures, w.failures, at - prev.at) };
    });
    this.last = next;
    return rows;
  }
}

/** Every instance of one workload name, and their sums. */
export interface WorkloadGroup {
  name: string;
  type: WorkloadType;
  instances: WorkloadRow[];
  /** The instances' common state, or `mixed`. */
  state: WorkloadState | "mixed";
  invocations: number;
  failures: number;
  restarts: number;
  callsPerSec?: number;
  errorsPerSec?: number;
  /** The slowest instance's latency, when nodes report it. */
  latencyMs?: { p50: number; p99: number };
  lastError?: string;
  triggers: string[];
}

function sumDefined(values: (number | undefined)[]): number | undefined {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length === 0 ? undefined : defined.reduce((a, b) => a + b, 0);
}

/** Groups instances by workload name, sorted by name; the newest instance's error is the group's last error. */
export function groupWorkloads(rows: readonly WorkloadRow[]): WorkloadGroup[] {
  const byName = new Map<string, WorkloadRow[]>();
  for (const r of rows) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
  return [...byName.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, list]) => {
      const instances = [...list].sort((a, b) => b.startedAt.localeCompare(a.startedAt) || a.id.localeCompare(b.id));
      const states = new Set(instances.map((i) => i.state));
      const lat = instances.map((i) => i.latencyMs).filter((l): l is { p50: number; p99: number } => l !== undefined);
      return {
        name,
        type: instances[0]!.type,
        instances,
        state: states.size === 1 ? instances[0]!.state : "mixed",
        invocations: instances.reduce((a, i) => a + i.invocations, 0),
        failures: instances.reduce((a, i) => a + i.failures, 0),
        restarts: instances.reduce((a, i) => a + i.restarts, 0),
        callsPerSec: sumDefined(instances.map((i) => i.callsPerSec)),
        errorsPerSec: sumDefined(instances.map((i) => i.errorsPerSec)),
        latencyMs: lat.length === 0 ? undefined : { p50: Math.max(...lat.map((l) => l.p50)), p99: Math.max(...lat.map((l) => l.p99)) },
        lastError: instances.find((i) => i.lastError)?.lastError,
        triggers: [...new Set(instances.flatMap((i) => i.triggers))].sort(),
      };
    });
}

/** Nodes sorted by name, then id (the order `nex node ls` prints). */
export function sortNodes(nodes: readonly NodeSummary[]): NodeSummary[] {
  return [...nodes].sort((a, b) => a.name.localeCompare(b.name) || a.nodeId.localeCompare(b.nodeId));
}

/** A bounded list: the oldest items fall out once it holds `max`. */
export class Ring<T> {
  private items: T[] = [];
  constructor(readonly max: number) {}

  /** Adds an item; returns the one that fell out, if any. */
  push(item: T): T | undefined {
    this.items.push(item);
    return this.items.length > this.max ? this.items.shift() : undefined;
  }

  /** The items, oldest first. */
  all(): readonly T[] {
    return this.items;
  }

  /** Drops every item. */
  clear(): void {
    this.items = [];
  }
}

/** One log line as the page shows it. */
export interface LogEntry {
  /** Stream sequence (history) or 0 (live without a stream). */
  seq: number;
  time: Date;
  name: string;
  id: string;
  stream: "stdout" | "stderr";
  line: string;
}

/** One event as the page shows it. */
export interface EventEntry {
  seq: number;
  time: Date;
  type: string;
  subject?: string;
  /** A short text of the event's data: the workload name and its message or reason. */
  summary: string;
}

/** A one-line summary of an event's data (the fields a person looks for first). */
export function eventSummary(data: unknown): string {
  if (data === null || typeof data !== "object") return "";
  const d = data as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of ["name", "subject", "code", "message", "reason", "exitCode", "attempt", "from", "to"]) {
    const v = d[k];
    if (v === undefined || v === null || v === "") continue;
    parts.push(k === "name" ? String(v) : `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  }
  return parts.join(" ");
}

/** `1.2/s`, `0.05/s`, or `–` when unknown. */
export function fmtRate(v: number | undefined): string {
  if (v === undefined) return "–";
  if (v === 0) return "0/s";
  return `${v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2)}/s`;
}

/** A latency in milliseconds: `0.42 ms`, `12 ms`. */
export function fmtMs(v: number): string {
  return `${v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2)} ms`;
}

/** An uptime: `42s`, `5m 3s`, `2h 10m`, `3d 4h`. */
export function fmtUptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

/** The first characters of a node or workload id. */
export function shortId(id: string, n = 8): string {
  return id.length > n ? id.slice(0, n) : id;
}

/** `HH:MM:SS` of a time, local. */
export function clock(d: Date): string {
  return d.toTimeString().slice(0, 8);
}
