/**
 * Test helpers that start the real thing: a nats-server on a random port with a temporary JetStream dir,
 * nodes in-process or as CLI subprocesses, and `check()` polling instead of sleeps.
 *
 * ```ts
 * const env = await TestEnv.start();
 * const node = await env.node();
 * t.after(() => env.stop());
 * ```
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { NatsConnection } from "@nats-io/nats-core";
import { connectNats, type ConnectionConfig } from "../nats/connect.js";
import { startNatsServer, type NatsServer } from "../nats/server.js";
import { NexNode } from "../node/node.js";
import type { NodeOptions } from "../node/options.js";
import { NexClient, type DeployResult, type PlacementOptions } from "../client/client.js";
import type { DeployRequest } from "../contract/index.js";

/** The repository root (where package.json lives). */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Polls `fn` until it returns a truthy value (or stops throwing), or fails after `timeoutMs`. */
export async function check<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, intervalMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`check timed out after ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ""}`);
}

/** A nats-server, the nodes started on it, and clients, all removed by `stop()`. */
export class TestEnv {
  readonly dir: string;
  private nodes: NexNode[] = [];
  private conns: NatsConnection[] = [];
  private children: ChildProcess[] = [];

  private constructor(
    public server: NatsServer,
    private readonly storeDir: string,
    dir: string,
  ) {
    this.dir = dir;
  }

  /** Starts a nats-server with JetStream in a fresh temporary directory. */
  static async start(opts: { extraConfig?: (dir: string) => string; connection?: Partial<ConnectionConfig> } = {}): Promise<TestEnv> {
    const dir = mkdtempSync(join(tmpdir(), "nex-test-"));
    const storeDir = join(dir, "js");
    const extraConfig = opts.extraConfig?.(dir);
    const server = await startNatsServer({ storeDir, extraConfig });
    const env = new TestEnv(server, storeDir, dir);
    env.extraConfig = extraConfig;
    env.auth = opts.connection ?? {};
    return env;
  }

  /** Server configuration kept for restarts. */
  private extraConfig: string | undefined;
  /** Credentials every connection of this environment uses. */
  private auth: Partial<ConnectionConfig> = {};

  /** Connection settings for the server. */
  get connection(): ConnectionConfig {
    return { ...this.auth, servers: [this.server.url] };
  }

  /** Restarts the server on the same port with the same store (for reconnect tests). */
  async restartServer(downMs = 0): Promise<void> {
    const port = this.server.port;
    await this.server.stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    this.server = await startNatsServer({ storeDir: this.storeDir, port, extraConfig: this.extraConfig });
  }

  /** Starts a node in this process. */
  async node(opts: Partial<NodeOptions> = {}): Promise<NexNode> {
    const node = await NexNode.start({
      connection: this.connection,
      dataDir: join(this.dir, `node-${this.nodes.length}`),
      heartbeatIntervalMs: 1_000,
      ...opts,
    });
    this.nodes.push(node);
    return node;
  }

  /** A plain NATS connection, closed by `stop()`. */
  async nc(): Promise<NatsConnection> {
    const nc = await connectNats(this.connection, "nex-test", true);
    this.conns.push(nc);
    return nc;
  }

  /** A client library instance on a fresh connection. */
  async client(namespace?: string): Promise<NexClient> {
    return new NexClient(await this.nc(), { namespace });
  }

  /** Writes `contents` to a file in the environment's directory and returns its `file://` location. */
  file(name: string, contents: string | Uint8Array): string {
    const path = join(this.dir, name);
    writeFileSync(path, contents);
    return pathToFileURL(path).href;
  }

  /** Deploys a JS function from source text (through a `file://` artifact). */
  async deployJs(client: NexClient, name: string, source: string, triggers: string[], extra: Partial<DeployRequest> = {}, placement: PlacementOptions = {}): Promise<DeployResult> {
    const location = this.file(`${name}-${Date.now()}-${Math.random().toString(36).slice(2)}.js`, source);
    return client.deploy({ name, type: "v8", location, triggers, ...extra }, placement);
  }

  /** Runs the `nex` CLI (as a user would) and collects its output. */
  async cli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<CliResult> {
    const child = spawnCli(args, { NATS_URL: this.server.url, ...opts.env });
    this.children.push(child);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
    return collect(child, opts.timeoutMs ?? 30_000);
  }

  /** Starts a long-running CLI command (e.g. `node up`, `logs -f`); `stop()` kills it. */
  spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const child = spawnCli(args, { NATS_URL: this.server.url, ...env });
    this.children.push(child);
    return child;
  }

  /** Stops everything this environment started and removes its files. */
  async stop(): Promise<void> {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await Promise.allSettled(this.nodes.map((n) => n.stop()));
    await Promise.allSettled(this.conns.map((c) => c.close()));
    await this.server.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** What a CLI run printed. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Under tsx (this repository's tests) the CLI runs from source, so tests never see a stale build. */
const FROM_SOURCE = import.meta.url.endsWith(".ts") ? "1" : "0";

/** Spawns `bin/nex.mjs` with the given environment. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [join(REPO_ROOT, "bin", "nex.mjs"), ...args], {
    env: { ...process.env, NO_COLOR: "1", NEX_FROM_SOURCE: FROM_SOURCE, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/** Waits for a child and returns its output; kills it after `timeoutMs`. */
export function collect(child: ChildProcess, timeoutMs: number): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Collects a child's stdout until `pattern` appears. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const onData = (d: Buffer): void => {
      buf += d.toString();
      if (pattern.test(buf)) {
        cleanup();
        resolve(buf);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`output did not match ${pattern} within ${timeoutMs} ms:\n${buf}`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
  });
}
