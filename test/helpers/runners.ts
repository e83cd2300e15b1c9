/** Finding the runner processes a test's node started, and watching their memory through /proc. */
import { readFileSync, readdirSync } from "node:fs";
import { check } from "../../src/testkit/index.js";

/** Pids of runner processes that are children of this (test) process. */
export function runnerPids(): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== process.pid) continue;
      if (/runner[/\\]main\.[jt]s/.test(readFileSync(`/proc/${d}/cmdline`, "latin1"))) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

/** Waits for the one runner that is not in `before` (started by a deploy into a new namespace). */
export async function newRunner(before: number[]): Promise<number> {
  return check(() => {
    const fresh = runnerPids().filter((p) => !before.includes(p));
    return fresh.length === 1 ? fresh[0] : undefined;
  });
}

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM), or 0 when the process is gone. */
export function statusBytes(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** True while `pid` exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Samples a process's RSS every few milliseconds; `stop()` returns the peak: the largest sample or the kernel's VmHWM. */
export function rssSampler(pid: number): { peak(): number; stop(): number } {
  let peak = statusBytes(pid, "VmRSS");
  const timer = setInterval(() => (peak = Math.max(peak, statusBytes(pid, "VmRSS"))), 5);
  return {
    peak: () => peak,
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, statusBytes(pid, "VmRSS"), statusBytes(pid, "VmHWM"));
    },
  };
}
