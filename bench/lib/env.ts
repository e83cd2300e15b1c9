/**
 * The benchmark's own world: a nats-server on a random loopback port with a temporary JetStream directory,
 * child processes (nodes, responders) forked through tsx, a fast client connection, and one `stop()` for all.
 */
import { fork, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/nats-core";
import { connectNats, type ConnectionConfig } from "../../src/nats/connect.js";
import { findNatsServer, startNatsServer, type NatsServer } from "../../src/nats/server.js";
import type { VariantKnobs } from "../variants/isolates.js";

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A forked helper process that said it was ready. */
export interface Child<R> {
  readonly pid: number;
  readonly ready: R;
  /** Asks it to stop (SIGTERM), kills it after a grace period, and waits for the exit. */
  stop(): Promise<void>;
}

/** Forks a TypeScript file under tsx and waits for its first IPC message, `{ ready: ... }` or `{ error }`. */
export async function forkTs<R>(file: string, args: unknown, env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): Promise<Child<R>> {
  const child = fork(join(REPO_ROOT, file), [JSON.stringify(args)], {
    env,
    execArgv: ["--no-node-snapshot", "--import", "tsx"],
    stdio: ["ignore", "ignore", "pipe", "ipc"],
    serialization: "advanced",
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4_000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = (): Promise<void> => stopChild(child, exited);
  try {
    const ready = await new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${file} was not ready within ${timeoutMs} ms: ${stderr.trim()}`)), timeoutMs);
      child.once("message", (m: { ready?: R; error?: string }) => {
        clearTimeout(timer);
        if (m.error !== undefined) reject(new Error(m.error));
        else resolve(m.ready as R);
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${file} exited with code ${code}: ${stderr.trim()}`));
      });
    });
    return { pid: child.pid ?? -1, ready, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Settings a bench node process starts with. */
export interface NodeProcessArgs {
  connection: ConnectionConfig;
  dataDir: string;
  types?: ("v8" | "wasm" | "native")[];
  warmRunners?: boolean;
  /** Runner processes per namespace and engine (the node's default, 1, when not given). */
  runnersPerNamespace?: number;
  /** Directories the node reads file:// artifacts from: the repository (examples) and the run's own directory. */
  allowFileDirs?: string[];
  /** Idle eviction of JS functions (the node's own default when absent). */
  idleEvictMs?: number;
  maxWorkloads?: number;
}

/** The benchmark's server, clients and children. */
export class BenchEnv {
  private readonly children: Child<unknown>[] = [];
  private readonly conns: NatsConnection[] = [];

  private constructor(
    readonly dir: string,
    readonly server: NatsServer,
  ) {}

  /** Starts a nats-server with JetStream in a fresh temporary directory. */
  static async start(): Promise<BenchEnv> {
    const dir = mkdtempSync(join(tmpdir(), "nex-bench-"));
    // A root node reads file:// artifacts as nobody: the artifacts written here must be reachable by path.
    chmodSync(dir, 0o711);
    try {
      const server = await startNatsServer({ storeDir: join(dir, "js"), host: "127.0.0.1", port: -1 });
      return new BenchEnv(dir, server);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** The nats-server binary in use (for its version). */
  static natsServerBinary(): string | undefined {
    return findNatsServer();
  }

  /** Connection settings for the server. */
  get connection(): ConnectionConfig {
    return { servers: [this.server.url] };
  }

  /** A client connection with the same options the node and runners use (`noAsyncTraces` among them). */
  async nc(name = "nex-bench"): Promise<NatsConnection> {
    const nc = await connectNats(this.connection, name, true);
    this.conns.push(nc);
    return nc;
  }

  /** Starts a nex node in its own process, so its RSS is its own. */
  async node(name: string, opts: Partial<NodeProcessArgs> = {}, env?: NodeJS.ProcessEnv): Promise<Child<{ id: string }>> {
    const args: NodeProcessArgs = { connection: this.connection, dataDir: join(this.dir, name), allowFileDirs: [REPO_ROOT, this.dir], ...opts };
    const c = await forkTs<{ id: string }>("bench/node-process.ts", args, env);
    this.children.push(c);
    return c;
  }

  /** Starts a bench responder (raw echo or an isolated-vm variant) in its own process. */
  async responder(mode: string, subject: string, knobs: VariantKnobs = {}): Promise<Child<{ subject: string }>> {
    const c = await forkTs<{ subject: string }>("bench/variants/responder.ts", { connection: this.connection, mode, subject, knobs });
    this.children.push(c);
    return c;
  }

  /** Stops one child started here. */
  async stopChild(c: Child<unknown>): Promise<void> {
    const i = this.children.indexOf(c);
    if (i >= 0) this.children.splice(i, 1);
    await c.stop();
  }

  /** Stops everything and removes the temporary directory. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.conns.map((c) => c.close()));
    await Promise.allSettled(this.children.map((c) => c.stop()));
    await this.server.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
