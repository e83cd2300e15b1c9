/**
 * Starting a local `nats-server` with JetStream: used by `nex up` (the embedded default) and by the testkit.
 *
 * ```ts
 * const srv = await startNatsServer({ storeDir: "/tmp/js" });
 * console.log(srv.url); await srv.stop();
 * ```
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** Options for a local nats-server. */
export interface NatsServerOptions {
  /** Client port; `-1` (the default) picks a free one. */
  port?: number;
  host?: string;
  /** JetStream store directory. */
  storeDir: string;
  /** Extra configuration text appended to the generated config file (e.g. authorization). */
  extraConfig?: string;
  /** Binary to run; default from `NEX_NATS_SERVER`, then PATH. */
  binary?: string;
  /** How long to wait for the server to listen. */
  startTimeoutMs?: number;
  /** A name unique in its cluster (JetStream clustering needs one). */
  serverName?: string;
  /** Join a cluster: listen for routes on `port` and connect to the `routes` (`nats-route://host:port`). */
  cluster?: { name: string; port: number; routes: string[] };
}

/** A running nats-server. */
export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
  /** Kills the server at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
}

/** What a user sees when the binary is missing. */
export const NATS_SERVER_INSTALL_HINT =
  "nats-server was not found. Install it (Debian/Ubuntu: `sudo apt-get install -y nats-server`; " +
  "macOS: `brew install nats-server`; or download it from the NATS project's releases) " +
  "and make sure it is on PATH, or point NEX_NATS_SERVER at the binary.";

/** Finds the nats-server binary: `NEX_NATS_SERVER`, then PATH, then `/usr/sbin` (where Debian puts it). */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env["NEX_NATS_SERVER"];
  if (explicit) return existsSync(explicit) ? explicit : undefined;
  const dirs = (env["PATH"] ?? "").split(delimiter).concat(["/usr/sbin", "/usr/local/sbin", "/usr/local/bin"]);
  for (const d of dirs) {
    if (d && existsSync(join(d, "nats-server"))) return join(d, "nats-server");
  }
  return undefined;
}

/** Starts a nats-server with JetStream and waits until it accepts clients. */
export async function startNatsServer(opts: NatsServerOptions): Promise<NatsServer> {
  const binary = opts.binary ?? findNatsServer();
  if (!binary) throw new Error(NATS_SERVER_INSTALL_HINT);
  mkdirSync(opts.storeDir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "nex-nats-"));
  const host = opts.host ?? "127.0.0.1";
  const conf = join(work, "server.conf");
  writeFileSync(
    conf,
    [
      ...(opts.serverName ? [`server_name: "${opts.serverName}"`] : []),
      `host: "${host}"`,
      `port: ${opts.port ?? -1}`,
      `ports_file_dir: "${work}"`,
      `jetstream { store_dir: "${opts.storeDir}" }`,
      ...(opts.cluster
        ? [`cluster { name: "${opts.cluster.name}", listen: "${host}:${opts.cluster.port}", routes: [ ${opts.cluster.routes.map((r) => `"${r}"`).join(", ")} ] }`]
        : []),
      opts.extraConfig ?? "",
    ].join("\n"),
  );
  const child = spawn(binary, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    const url = await waitForPorts(work, child, opts.startTimeoutMs ?? 10_000, () => stderr);
    const port = Number(new URL(url).port);
    return {
      url,
      port,
      pid: child.pid ?? -1,
      stop: async () => {
        await stopChild(child, exited);
        rmSync(work, { recursive: true, force: true });
      },
      kill: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        await exited;
        rmSync(work, { recursive: true, force: true });
      },
    };
  } catch (err) {
    child.kill("SIGKILL");
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
}

async function waitForPorts(dir: string, child: ChildProcess, timeoutMs: number, stderr: () => string): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with code ${child.exitCode}: ${stderr().trim()}`);
    const f = readdirSync(dir).find((n) => n.endsWith(".ports"));
    if (f) {
      // The server may still be writing the file: an incomplete one is read again on the next turn.
      let ports: { nats?: string[] } = {};
      try {
        ports = JSON.parse(readFileSync(join(dir, f), "utf8")) as { nats?: string[] };
      } catch {
        // not complete yet
      }
      const url = ports.nats?.[0];
      if (url) return url;
    }
    await sleep(10);
  }
  throw new Error(`nats-server did not start within ${timeoutMs} ms: ${stderr().trim()}`);
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}
