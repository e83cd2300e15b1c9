/** Nodes as `nex node up` subprocesses, so a test can kill them for real (SIGKILL) and start them again. */
import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { TestEnv } from "../../src/testkit/index.js";
import { waitForOutput } from "../../src/testkit/index.js";

/** A node running as a CLI subprocess. */
export interface NodeProc {
  name: string;
  id: string;
  child: ChildProcess;
  args: string[];
  /** The node's stderr so far (its warnings), for a failing test's message. */
  logs(): string;
}

/** Starts `nex node up` with a stable identity; `extra` are more flags. */
export async function nodeUp(env: TestEnv, name: string, extra: string[] = []): Promise<NodeProc> {
  const args = [
    "node", "up", "--name", name, "--seed-file", join(env.dir, `${name}.nk`), "--data-dir", join(env.dir, name),
    "--heartbeat", "1s", "--allow-file-dir", env.dir, "--no-warm", ...extra,
  ];
  const child = env.spawnCli(args, { NEX_FROM_SOURCE: "1" });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
  const out = await waitForOutput(child, /id:\s+(N[A-Z2-7]{55})/, 40_000);
  return { name, id: /id:\s+(N[A-Z2-7]{55})/.exec(out)![1]!, child, args, logs: () => stderr };
}

/** Kills a node with SIGKILL and waits for it (and its runners) to be gone. */
export function kill9(n: NodeProc): Promise<void> {
  return new Promise((resolve) => {
    if (n.child.exitCode !== null || n.child.signalCode !== null) return resolve();
    const runners = childrenOf(n.child.pid!);
    n.child.once("exit", () => {
      for (const p of runners) {
        try {
          process.kill(p, "SIGKILL");
        } catch {
          // gone with its parent
        }
      }
      resolve();
    });
    n.child.kill("SIGKILL");
  });
}

/** Stops a node cleanly (SIGTERM) and waits for it to exit. */
export function stopNode(n: NodeProc): Promise<void> {
  return new Promise((resolve) => {
    if (n.child.exitCode !== null || n.child.signalCode !== null) return resolve();
    n.child.once("exit", () => resolve());
    n.child.kill("SIGTERM");
  });
}

/** Direct children of a process. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}
