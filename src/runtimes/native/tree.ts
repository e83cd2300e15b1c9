/** Finds a workload's processes through /proc, so stop can signal the whole tree and tests can look for orphans. */
import { readFileSync, readdirSync } from "node:fs";

/** One process as /proc shows it. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  /** Single-letter state: R, S, D, Z, ... */
  state: string;
  comm: string;
}

/** Reads /proc/<pid>/stat, or undefined when the process is gone. */
function procInfo(pid: number): ProcInfo | undefined {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // comm may hold spaces and parentheses: it ends at the last ')'.
  const open = raw.indexOf("(");
  const close = raw.lastIndexOf(")");
  const rest = raw.slice(close + 2).split(" ");
  return { pid, ppid: Number(rest[1]), state: rest[0] ?? "?", comm: raw.slice(open + 1, close) };
}

/** Every live process on the host. */
function allProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const p = procInfo(Number(name));
    if (p) out.push(p);
  }
  return out;
}

/** Descendants of `root` with their depth below it (children are depth 1). Zombies are left out. */
export function descendants(root: number, procs: ProcInfo[] = allProcesses()): { pid: number; depth: number }[] {
  const children = new Map<number, number[]>();
  for (const p of procs) {
    if (p.state === "Z") continue;
    const list = children.get(p.ppid) ?? [];
    list.push(p.pid);
    children.set(p.ppid, list);
  }
  const out: { pid: number; depth: number }[] = [];
  const queue: { pid: number; depth: number }[] = [{ pid: root, depth: 0 }];
  while (queue.length > 0) {
    const cur = queue.shift()!;
    for (const c of children.get(cur.pid) ?? []) {
      out.push({ pid: c, depth: cur.depth + 1 });
      queue.push({ pid: c, depth: cur.depth + 1 });
    }
  }
  return out;
}

/** Sends a signal, ignoring processes that are already gone. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // ESRCH: it exited on its own in the meantime.
  }
}
