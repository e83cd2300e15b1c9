/** Process-tree memory and the machine description, read from /proc and the OS. */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { cpus, totalmem } from "node:os";

/** VmRSS of one process in bytes; 0 when it is gone. */
export function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Every live descendant of `root` (children found through the ppid field of /proc/PID/stat). */
export function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // The command name may contain spaces and parentheses: the fields start after the last ")".
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ppid = Number(fields[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // exited while we looked
    }
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0 && out.length < 10_000) {
    for (const c of children.get(todo.pop()!) ?? []) {
      out.push(c);
      todo.push(c);
    }
  }
  return out;
}

/** RSS of a process and all its descendants, in bytes, with the process count. */
export function treeRss(root: number): { bytes: number; processes: number } {
  const pids = [root, ...descendantsOf(root)];
  return { bytes: pids.reduce((sum, p) => sum + rssOf(p), 0), processes: pids.length };
}

/** What the numbers were measured on. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  natsServer: string;
}

/** Describes this machine and the nats-server binary. */
export function describeMachine(natsServerBinary: string | undefined): Machine {
  let natsServer = "unknown";
  if (natsServerBinary) {
    try {
      natsServer = execFileSync(natsServerBinary, ["--version"], { encoding: "utf8", timeout: 5_000 }).trim().replace(/^nats-server:\s*/, "");
    } catch {
      // keep "unknown"
    }
  }
  return {
    cpu: cpus()[0]?.model.trim() ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${process.platform} ${process.arch}`,
    node: process.version,
    natsServer,
  };
}
