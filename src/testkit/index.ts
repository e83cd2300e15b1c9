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
import { createServer as createNetServer } from "node:net";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { NatsConnection } from "@nats-io/nats-core";
import { AuthHome, NEX_ACCOUNT, writeSecret } from "../auth/home.js";
import { pushAccounts } from "../auth/resolver.js";
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

/** How a test environment's server is set up. */
export interface TestEnvOptions {
  /** Extra server configuration (e.g. an `authorization` block); such a server runs without accounts. */
  extraConfig?: (dir: string) => string;
  /** Credentials every connection uses (with `extraConfig`). */
  connection?: Partial<ConnectionConfig>;
  /** Operator mode with accounts, as `nex up` sets it up. Default: true, unless `extraConfig` is given. */
  secure?: boolean;
  /** Namespaces to create up front (secure mode); `default` always exists. */
  namespaces?: string[];
  /** Servers in a JetStream cluster (default 1: a single server). */
  cluster?: number;
  /** Also listen for websocket clients (the port is in `env.wsPort`). */
  websocket?: boolean;
}

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** One server of the environment: its fixed ports and store, so it can be killed and started again. */
interface ServerSlot {
  server: NatsServer | undefined;
  port: number;
  storeDir: string;
  name: string;
  cluster?: { name: string; port: number; routes: string[] };
}

/**
 * A nats-server (or a cluster of them), the nodes started on it, and clients, all removed by `stop()`. By default the
 * server runs in operator mode exactly as `nex up` starts it: a nex home in the environment's directory holds the
 * keys, the nodes serve namespaces from it, and `nc(ns)`, `client(ns)` and `cli()` act as that namespace's own users.
 */
export class TestEnv {
  readonly dir: string;
  /** The nex home (`NEX_HOME`) of a secure environment. */
  readonly home: string;
  /** The websocket port, when asked for. */
  wsPort: number | undefined;
  private nodes: NexNode[] = [];
  private conns: NatsConnection[] = [];
  private children: ChildProcess[] = [];
  private auth: AuthHome | undefined;
  private extraConfig: string | undefined;
  private creds: Partial<ConnectionConfig> = {};
  /** The websocket URL of the server (`ws://127.0.0.1:<port>`), when started with `websocket`. */
  wsUrl: string | undefined;

  private constructor(
    private readonly slots: ServerSlot[],
    dir: string,
  ) {
    this.dir = dir;
    this.home = join(dir, "home");
  }

  /** Starts a nats-server (or a cluster) with JetStream in a fresh temporary directory. */
  static async start(opts: TestEnvOptions = {}): Promise<TestEnv> {
    const dir = mkdtempSync(join(tmpdir(), "nex-test-"));
    // Artifacts written here are read the way a node reads them: as an unprivileged user.
    chmodSync(dir, 0o755);
    const secure = opts.secure ?? opts.extraConfig === undefined;
    const auth = secure ? await AuthHome.init(join(dir, "home"), ["default", ...(opts.namespaces ?? [])]) : undefined;
    const size = Math.max(1, opts.cluster ?? 1);
    const slots: ServerSlot[] = [];
    const routePorts = size > 1 ? await Promise.all(Array.from({ length: size }, () => freePort())) : [];
    for (let i = 0; i < size; i++) {
      slots.push({
        server: undefined,
        port: size > 1 ? await freePort() : -1,
        storeDir: join(dir, size > 1 ? `js-${i}` : "js"),
        name: `n${i}`,
        ...(size > 1 ? { cluster: { name: "nex", port: routePorts[i]!, routes: routePorts.map((p) => `nats-route://127.0.0.1:${p}`) } } : {}),
      });
    }
    const env = new TestEnv(slots, dir);
    env.wsPort = opts.websocket ? await freePort() : undefined;
    env.wsUrl = env.wsPort ? `ws://127.0.0.1:${env.wsPort}` : undefined;
    const ws = env.wsPort ? `\nwebsocket { listen: "127.0.0.1:${env.wsPort}", no_tls: true }` : "";
    env.extraConfig = (auth ? auth.serverConfig(join(dir, "jwt")) : opts.extraConfig?.(dir)) ?? "";
    env.creds = opts.connection ?? {};
    env.auth = auth;
    // The websocket listener is the first server's.
    await Promise.all(slots.map((_, i) => env.startServer(i, i === 0 ? ws : "")));
    if (auth) await env.pushAccounts();
    return env;
  }

  /** Starts server `i` again (after `killServer` or `stopServer`), on the same ports and store. */
  async startServer(i: number, extra = ""): Promise<void> {
    const s = this.slots[i]!;
    const resolverDir = join(this.dir, `jwt-${i}`);
    const config = this.auth ? this.auth.serverConfig(resolverDir) : (this.extraConfig ?? "");
    s.server = await startNatsServer({ storeDir: s.storeDir, port: s.port, extraConfig: `${config}${extra}`, serverName: s.name, cluster: s.cluster });
    if (s.port === -1) s.port = s.server.port;
  }

  /** Kills server `i` with SIGKILL, as a crash would. */
  async killServer(i: number): Promise<void> {
    await this.slots[i]?.server?.kill();
    this.slots[i]!.server = undefined;
  }

  /** The first server that runs. */
  get server(): NatsServer {
    const s = this.slots.find((x) => x.server)?.server;
    if (!s) throw new Error("no server of this environment runs");
    return s;
  }

  /** Every server's client URL (of servers that run or may run again). */
  get urls(): string[] {
    return this.slots.map((s) => s.server?.url ?? `nats://127.0.0.1:${s.port}`);
  }

  /** True for an operator-mode environment. */
  get secure(): boolean {
    return this.auth !== undefined;
  }

  private async pushAccounts(jwts?: string[]): Promise<void> {
    const auth = this.auth!;
    const sysCreds = join(this.dir, "sys.creds");
    writeSecret(sysCreds, auth.systemCreds());
    const sys = await connectNats({ servers: this.urls, credsFile: sysCreds }, "nex-test-sys");
    try {
      await pushAccounts(sys, jwts ?? auth.namespaces().map((a) => a.jwt), [auth.operatorSigner().getPublicKey()]);
    } finally {
      await sys.close();
    }
  }

  /** Creates a namespace (an account, in a secure environment) if it does not exist yet. */
  async namespace(name: string): Promise<void> {
    if (!this.auth || this.auth.account(name)) return;
    const rec = await this.auth.createNamespace(name);
    await this.pushAccounts([rec.jwt]);
  }

  /** Connection settings of the control plane (the nex account), as nodes and admins use them. */
  get connection(): ConnectionConfig {
    if (this.auth) return { servers: this.urls, credsFile: this.auth.credsPath(NEX_ACCOUNT) };
    return { ...this.creds, servers: this.urls };
  }

  /** Connection settings of a namespace's own user (the same as `connection` without accounts). */
  tenant(ns = "default"): ConnectionConfig {
    if (this.auth) return { servers: this.urls, credsFile: this.auth.credsPath(ns) };
    return this.connection;
  }

  /** The environment variables the CLI needs to act in this environment. */
  get cliEnv(): NodeJS.ProcessEnv {
    return this.auth ? { NATS_URL: this.urls.join(","), NEX_HOME: this.home } : { NATS_URL: this.urls.join(",") };
  }

  /** Restarts the (first) server on the same port with the same store (for reconnect tests). */
  async restartServer(downMs = 0): Promise<void> {
    await this.slots[0]!.server?.stop();
    this.slots[0]!.server = undefined;
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.startServer(0, this.wsPort ? `\nwebsocket { listen: "127.0.0.1:${this.wsPort}", no_tls: true }` : "");
  }

  /** Starts a node in this process. It may read `file://` artifacts from the environment's directory. */
  async node(opts: Partial<NodeOptions> = {}, log?: (line: string) => void): Promise<NexNode> {
    const node = await NexNode.start({
      connection: this.connection,
      dataDir: join(this.dir, `node-${this.nodes.length}`),
      heartbeatIntervalMs: 1_000,
      // Tests deploy from their own directories, the repository's fixtures, and system binaries.
      allowFileDirs: [tmpdir(), REPO_ROOT, "/bin", "/usr/bin"],
      ...(this.auth ? { authHome: this.home } : { insecure: this.creds.user === undefined && this.creds.token === undefined }),
      ...opts,
    }, log);
    this.nodes.push(node);
    return node;
  }

  /** A connection as namespace `ns`'s own user (created when missing), closed by `stop()`. */
  async nc(ns = "default"): Promise<NatsConnection> {
    await this.namespace(ns);
    const nc = await connectNats(this.tenant(ns), `nex-test-${ns}`, true);
    this.conns.push(nc);
    return nc;
  }

  /** A connection to the control plane (the nex account), closed by `stop()`. */
  async adminNc(): Promise<NatsConnection> {
    const nc = await connectNats(this.connection, "nex-test-admin", true);
    this.conns.push(nc);
    return nc;
  }

  /** A client library instance of the control plane (node-wide operations such as lame duck). */
  async adminClient(namespace = "default"): Promise<NexClient> {
    return new NexClient(await this.adminNc(), { namespace });
  }

  /** A client library instance acting as namespace `namespace`'s own user. */
  async client(namespace = "default"): Promise<NexClient> {
    return new NexClient(await this.nc(namespace), { namespace });
  }

  /** Writes `contents` to a file in the environment's directory and returns its `file://` location. */
  file(name: string, contents: string | Uint8Array): string {
    const path = join(this.dir, name);
    writeFileSync(path, contents, { mode: 0o644 });
    return pathToFileURL(path).href;
  }

  /** Deploys a JS function from source text (through a `file://` artifact). */
  async deployJs(client: NexClient, name: string, source: string, triggers: string[], extra: Partial<DeployRequest> = {}, placement: PlacementOptions = {}): Promise<DeployResult> {
    const location = this.file(`${name}-${Date.now()}-${Math.random().toString(36).slice(2)}.js`, source);
    return client.deploy({ name, type: "v8", location, triggers, ...extra }, placement);
  }

  /** Runs the `nex` CLI (as a user would) and collects its output. */
  async cli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<CliResult> {
    const child = spawnCli(args, { ...this.cliEnv, ...opts.env });
    this.children.push(child);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
    return collect(child, opts.timeoutMs ?? 30_000);
  }

  /** Starts a long-running CLI command (e.g. `node up`, `logs -f`); `stop()` kills it. */
  spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const child = spawnCli(args, { ...this.cliEnv, ...env });
    this.children.push(child);
    return child;
  }

  /** Stops everything this environment started and removes its files. */
  async stop(): Promise<void> {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await Promise.allSettled(this.nodes.map((n) => n.stop()));
    await Promise.allSettled(this.conns.map((c) => c.close()));
    await Promise.allSettled(this.slots.map((x) => x.server?.stop()));
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
