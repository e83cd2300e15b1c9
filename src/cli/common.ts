/** What every CLI command shares: connection flags, output (JSON or tables), errors and the spinner. */
import type { Command } from "commander";
import type { NatsConnection } from "@nats-io/nats-core";
import { existsSync } from "node:fs";
import { AuthHome, NEX_ACCOUNT } from "../auth/home.js";
import { DEFAULT_NAMESPACE, NexError, durationMs } from "../contract/index.js";
import { defaultDataDir } from "../node/options.js";
import { connectNats, resolveConnection, type ConnectionConfig, type ConnectionFlags } from "../nats/connect.js";
import { NexClient } from "../client/index.js";

/** Options every command accepts (declared once, on the program). */
export interface GlobalOptions extends ConnectionFlags {
  namespace?: string;
  json?: boolean;
  timeout?: string;
}

/** Declares the NATS connection and output flags on the program; they work before or after the subcommand. */
export function addGlobalOptions(program: Command): Command {
  return program
    .option("-s, --server <urls>", "NATS server URL(s), comma-separated (env NATS_URL)")
    .option("--creds <file>", "NATS credentials file")
    .option("--nkey <file>", "file holding an nkey seed")
    .option("--user <user>", "NATS user")
    .option("--password <password>", "NATS password")
    .option("--token <token>", "NATS auth token")
    .option("--tlscert <file>", "TLS client certificate")
    .option("--tlskey <file>", "TLS client key")
    .option("--tlsca <file>", "TLS certificate authority")
    .option("-n, --namespace <ns>", "namespace (env NEX_NAMESPACE)", process.env["NEX_NAMESPACE"] ?? DEFAULT_NAMESPACE)
    .option("--json", "print JSON instead of tables")
    .option("--timeout <ms>", "request timeout in milliseconds", "10000");
}

/** The merged global options of a command. */
export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/** The nex home the CLI reads keys and credentials from (`NEX_HOME`, default `~/.nex`). */
export function nexHome(): string {
  return defaultDataDir();
}

/**
 * Resolved connection settings for a command. Explicit credentials flags win; otherwise, when the nex home holds a
 * deployment's keys (`nex up` made them), the command uses the namespace's own credentials, or the control plane's
 * for node-wide commands (`admin`).
 */
export function connectionOf(cmd: Command, admin = false): ConnectionConfig {
  const g = globals(cmd);
  const cfg = resolveConnection(g);
  const explicit = g.creds || g.nkey || g.user || g.token;
  if (explicit || !AuthHome.exists(nexHome())) return cfg;
  const home = AuthHome.open(nexHome());
  const name = admin ? NEX_ACCOUNT : (g.namespace ?? DEFAULT_NAMESPACE);
  const creds = home.credsPath(name);
  if (!existsSync(creds)) {
    throw new NexError("NEX_E_NO_NAMESPACE", `no namespace ${name} in ${nexHome()}`, { hint: `Create it with \`nex ns create ${name}\`, or list them with \`nex ns ls\`.` });
  }
  return { ...cfg, credsFile: creds };
}

/** Connects for a short-lived CLI command, with a clear error when nothing answers. */
export async function connectCli(cmd: Command, admin = false): Promise<NatsConnection> {
  const cfg = connectionOf(cmd, admin);
  try {
    return await connectNats(cfg, "nex-cli", false);
  } catch (err) {
    throw new NexError("NEX_E_NO_NODES", `cannot connect to NATS at ${cfg.servers.join(", ")}: ${(err as Error).message}`, {
      hint: "Start NATS and a node with `nex up`, or point -s / NATS_URL at your server.",
    });
  }
}

/** Runs `fn` with a client and always closes the connection (`admin`: as the control plane). */
export async function withClient<T>(cmd: Command, fn: (c: NexClient) => Promise<T>, admin = false): Promise<T> {
  const nc = await connectCli(cmd, admin);
  const g = globals(cmd);
  try {
    return await fn(new NexClient(nc, { namespace: g.namespace, timeoutMs: intFlag(g.timeout, "--timeout") ?? 10_000 }));
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** Prints JSON. */
export function printJson(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + "\n");
}

/** Prints rows as an aligned table. */
export function printTable(headers: string[], rows: (string | number | undefined | null)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === undefined || c === null ? "" : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  for (const r of cells) {
    process.stdout.write(r.map((c, i) => (i === r.length - 1 ? c : (c ?? "").padEnd(widths[i]!))).join("  ").trimEnd() + "\n");
  }
}

/** Prints an error the way every command does: code, message, hint; and sets a failing exit code. */
function printError(err: unknown): void {
  const e = err instanceof NexError ? err : NexError.from(err);
  process.stderr.write(`nex: ${e.code}: ${e.message}\n  hint: ${e.hint}\n`);
  process.exitCode = 1;
}

/** Wraps a command action: errors are printed with their code and make the process exit non-zero. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      printError(err);
    }
  };
}

/** Collects a repeatable option into an array. */
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** Parses `KEY=VAL` strings. */
export function parseKeyValues(list: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf("=");
    if (i <= 0) throw new NexError("NEX_E_INVALID_FIELD", `${what} "${kv}" is not in the form KEY=VALUE`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** A spinner on stderr for long steps; silent when stderr is not a terminal or JSON is asked for. */
export class Spinner {
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;
  private text = "";
  private readonly enabled: boolean;

  constructor(quiet = false) {
    this.enabled = !quiet && process.stderr.isTTY === true && !process.env["NO_COLOR"];
  }

  /** Shows (or changes) the current step. */
  step(text: string): void {
    this.text = text;
    if (!this.enabled) return;
    this.timer ??= setInterval(() => this.draw(), 80);
    this.draw();
  }

  private draw(): void {
    const frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";
    process.stderr.write(`\r\x1b[2K${frames[this.frame++ % frames.length]} ${this.text}`);
  }

  /** Clears the spinner line. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.enabled) process.stderr.write("\r\x1b[2K");
  }
}

/** Shortens a node or workload id for tables. */
export function short(id: string, n = 10): string {
  return id.length > n ? id.slice(0, n) : id;
}

/** A duration flag (`30s`, `5m`, `500ms`, or milliseconds), or NEX_E_INVALID_FIELD naming the flag. */
export function durationFlag(value: string, flag: string): number {
  return durationMs(/^\d+$/.test(value.trim()) ? Number(value) : value, flag);
}

/** A number flag (fractions allowed, e.g. `--cpus 0.5`), or NEX_E_INVALID_FIELD naming it. */
export function numberFlag(value: string | undefined, flag: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n <= min) throw new NexError("NEX_E_INVALID_FIELD", `${flag}: must be a number above ${min}, not ${JSON.stringify(value)}`);
  return n;
}

/** An integer flag of at least `min`, or NEX_E_INVALID_FIELD naming the flag (a typo never silently means "off"). */
export function intFlag(value: string | undefined, flag: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\s*-?\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new NexError("NEX_E_INVALID_FIELD", `${flag}: must be an integer of at least ${min}, not ${JSON.stringify(value)}`);
  return n;
}

/**
 * A point in time: a duration back from now (`30s`, `1h`, `2d`) or an ISO time (`2025-06-01T12:00:00Z`,
 * `2025-06-01`), or NEX_E_INVALID_FIELD naming the flag.
 */
export function timeFlag(value: string, flag: string, now = Date.now()): Date {
  const v = value.trim();
  if (/^\d+(\.\d+)?(ms|s|m|h|d)?$/.test(v)) return new Date(now - durationFlag(v, flag));
  const t = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) {
    throw new NexError("NEX_E_INVALID_FIELD", `${flag}: ${JSON.stringify(value)} is neither a duration (30s, 5m, 1h) nor an ISO time (2025-06-01T12:00:00Z)`);
  }
  return new Date(t);
}

/** A regular expression flag, or NEX_E_INVALID_FIELD naming the flag. */
export function regexFlag(value: string | undefined, flag: string): RegExp | undefined {
  if (value === undefined) return undefined;
  try {
    return new RegExp(value);
  } catch (err) {
    throw new NexError("NEX_E_INVALID_FIELD", `${flag}: ${(err as Error).message}`);
  }
}

/** Prints one JSON object on one line (for `--json` streams: logs, events). */
export function printJsonLine(v: unknown): void {
  process.stdout.write(JSON.stringify(v) + "\n");
}
