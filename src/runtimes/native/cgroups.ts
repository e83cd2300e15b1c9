/**
 * Per-workload resource limits. cgroup v2 where `memory.max` can be had, else cgroup v1 (memory + pids),
 * else rlimits set by `prlimit` as a weaker fallback. A CPU limit needs a cpu controller: v2's `cpu.max`, or v1's
 * `cpu.cfs_quota_us`; rlimits have no stand-in for it, so a workload that asks for one is refused without a cgroup.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NexError } from "../../contract/index.js";
import { signal } from "./tree.js";

/** Which mechanism enforces a workload's limits. */
export type LimitKind = "cgroup2" | "cgroup1" | "rlimit";

/** The limits of one workload. */
export interface Limits {
  memoryBytes: number;
  maxProcesses: number;
  /** CPUs' worth of time per period (0.5 = half of one CPU); none means no CPU limit. */
  cpus?: number;
}

/** The CFS period a CPU limit is counted in (100 ms, the kernel's default); the quota is `cpus` times it. */
const CPU_PERIOD_US = 100_000;

/** The CPU quota of one period, in microseconds; the kernel takes no less than 1 ms. */
export function cpuQuotaUs(cpus: number): number {
  return Math.max(1_000, Math.round(cpus * CPU_PERIOD_US));
}

/** A workload's cgroup (or the rlimits standing in for one). */
export interface WorkloadLimits {
  readonly kind: LimitKind;
  /** Files the launcher writes its own pid to before it execs the workload. */
  readonly procsFiles: string[];
  /** `prlimit` arguments, for the rlimit fallback. */
  readonly rlimitArgs: string[];
  /** Pids in the cgroup (empty for rlimits). */
  pids(): number[];
  /** How many times the kernel's OOM killer fired in this cgroup. */
  oomKills(): number;
  /** Memory the cgroup uses now, in bytes; undefined without a cgroup. */
  memoryBytes(): number | undefined;
  /** SIGKILLs every member. */
  killAll(): void;
  /** Kills what is left and removes the cgroup. */
  destroy(): Promise<void>;
}

interface Mount {
  path: string;
  type: string;
  options: string[];
}

function mounts(): Mount[] {
  try {
    return readFileSync("/proc/self/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" "))
      .filter((f) => f[2] === "cgroup" || f[2] === "cgroup2")
      .map((f) => ({ path: f[1]!, type: f[2]!, options: (f[3] ?? "").split(",") }));
  } catch {
    return [];
  }
}

/** The node's own cgroup path for a v1 controller, or "" for the v2 line. */
function ownPath(controller: string | ""): string {
  for (const line of readFileSync("/proc/self/cgroup", "utf8").split("\n")) {
    const [, ctrls, path] = line.split(":");
    if (path === undefined) continue;
    if (controller === "" ? ctrls === "" : (ctrls ?? "").split(",").includes(controller)) return path;
  }
  return "/";
}

function readInts(file: string): number[] {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function readKey(file: string, key: string): number {
  try {
    const m = new RegExp(`^${key} (\\d+)$`, "m").exec(readFileSync(file, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Creates `dir` below `base`, making the shared `nex` parent when needed. */
function makeGroup(base: string, id: string): string {
  const dir = join(base, "nex", id);
  mkdirSync(dir, { recursive: true });
  return dir;
}

async function removeGroups(dirs: string[], members: () => number[]): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (members().length > 0 && Date.now() < deadline) {
    for (const p of members()) signal(p, "SIGKILL");
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const dir of dirs) {
    for (let i = 0; i < 50; i++) {
      try {
        if (existsSync(dir)) rmdirSync(dir);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    // The shared parent goes when its last workload does; EBUSY means another workload still uses it.
    try {
      rmdirSync(join(dir, ".."));
    } catch {
      // still in use
    }
  }
}

/** The controllers the node's own v2 cgroup offers its children, with that cgroup's path. */
function cgroup2Controllers(): { own: string; controllers: string[] } | undefined {
  const mnt = mounts().find((m) => m.type === "cgroup2");
  if (!mnt) return undefined;
  const own = join(mnt.path, ownPath(""));
  try {
    return { own, controllers: readFileSync(join(own, "cgroup.controllers"), "utf8").trim().split(/\s+/) };
  } catch {
    return undefined;
  }
}

function tryCgroup2(id: string, limits: Limits): WorkloadLimits | undefined {
  const v2 = cgroup2Controllers();
  if (!v2) return undefined;
  const { own, controllers } = v2;
  const wanted = ["memory", "pids", ...(limits.cpus !== undefined ? ["cpu"] : [])];
  if (!wanted.every((c) => controllers.includes(c))) return undefined;
  try {
    const enable = wanted.map((c) => `+${c}`).join(" ");
    // Fails with EBUSY when the node's own cgroup holds processes (the "no internal processes" rule).
    writeFileSync(join(own, "cgroup.subtree_control"), enable);
    mkdirSync(join(own, "nex"), { recursive: true });
    writeFileSync(join(own, "nex", "cgroup.subtree_control"), enable);
    const dir = makeGroup(own, id);
    if (!existsSync(join(dir, "memory.max"))) return undefined;
    writeFileSync(join(dir, "memory.max"), String(limits.memoryBytes));
    if (existsSync(join(dir, "memory.swap.max"))) writeFileSync(join(dir, "memory.swap.max"), "0");
    writeFileSync(join(dir, "pids.max"), String(limits.maxProcesses));
    if (limits.cpus !== undefined) writeFileSync(join(dir, "cpu.max"), `${cpuQuotaUs(limits.cpus)} ${CPU_PERIOD_US}`);
    const pids = (): number[] => readInts(join(dir, "cgroup.procs"));
    return {
      kind: "cgroup2",
      procsFiles: [join(dir, "cgroup.procs")],
      rlimitArgs: [],
      pids,
      oomKills: () => readKey(join(dir, "memory.events"), "oom_kill"),
      memoryBytes: () => readInts(join(dir, "memory.current"))[0],
      killAll: () => {
        try {
          writeFileSync(join(dir, "cgroup.kill"), "1");
        } catch {
          for (const p of pids()) signal(p, "SIGKILL");
        }
      },
      destroy: () => removeGroups([dir], pids),
    };
  } catch {
    return undefined;
  }
}

/** The v1 hierarchy that has `controller`. */
function cgroup1Mount(controller: string): Mount | undefined {
  return mounts().find((m) => m.type === "cgroup" && m.options.includes(controller));
}

function tryCgroup1(id: string, limits: Limits): WorkloadLimits | undefined {
  const mem = cgroup1Mount("memory");
  const pid = cgroup1Mount("pids");
  const cpu = limits.cpus !== undefined ? cgroup1Mount("cpu") : undefined;
  if (!mem || !pid || (limits.cpus !== undefined && !cpu)) return undefined;
  const dirs: string[] = [];
  try {
    const memDir = makeGroup(join(mem.path, ownPath("memory")), id);
    dirs.push(memDir);
    writeFileSync(join(memDir, "memory.limit_in_bytes"), String(limits.memoryBytes));
    // Without a swap limit the workload would page out instead of being held to its limit.
    try {
      writeFileSync(join(memDir, "memory.memsw.limit_in_bytes"), String(limits.memoryBytes));
    } catch {
      writeFileSync(join(memDir, "memory.swappiness"), "0");
    }
    const pidDir = makeGroup(join(pid.path, ownPath("pids")), id);
    dirs.push(pidDir);
    writeFileSync(join(pidDir, "pids.max"), String(limits.maxProcesses));
    if (cpu && limits.cpus !== undefined) {
      // The memory or pids hierarchy may be this one too (mounted together); then the directory is the same.
      const cpuDir = makeGroup(join(cpu.path, ownPath("cpu")), id);
      if (!dirs.includes(cpuDir)) dirs.push(cpuDir);
      writeFileSync(join(cpuDir, "cpu.cfs_period_us"), String(CPU_PERIOD_US));
      writeFileSync(join(cpuDir, "cpu.cfs_quota_us"), String(cpuQuotaUs(limits.cpus)));
    }
    const procsFiles = [...new Set(dirs)].map((d) => join(d, "cgroup.procs"));
    const pids = (): number[] => [...new Set(procsFiles.flatMap(readInts))];
    return {
      kind: "cgroup1",
      procsFiles,
      rlimitArgs: [],
      pids,
      oomKills: () => readKey(join(memDir, "memory.oom_control"), "oom_kill"),
      memoryBytes: () => readInts(join(memDir, "memory.usage_in_bytes"))[0],
      killAll: () => {
        for (const p of pids()) signal(p, "SIGKILL");
      },
      destroy: () => removeGroups(dirs, pids),
    };
  } catch {
    void removeGroups(dirs, () => []);
    return undefined;
  }
}

function rlimits(limits: Limits): WorkloadLimits {
  return {
    kind: "rlimit",
    procsFiles: [],
    // RLIMIT_NPROC counts every process of the uid, not of the workload, and RLIMIT_DATA is not RSS: a weak stand-in.
    rlimitArgs: [`--nproc=${limits.maxProcesses}`, `--data=${limits.memoryBytes}`],
    pids: () => [],
    oomKills: () => 0,
    memoryBytes: () => undefined,
    killAll: () => undefined,
    destroy: async () => undefined,
  };
}

/** Which mechanism the first workload got; later workloads try it first. */
let preferred: LimitKind | undefined;

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Which cgroup version would hold a workload to a CPU limit on this host, or undefined when none can (no cpu
 * controller, or a node that may not manage cgroups). Looks, creates nothing.
 */
export function cpuLimitKind(allowCgroups = isRoot()): "cgroup2" | "cgroup1" | undefined {
  if (!allowCgroups) return undefined;
  const v2 = cgroup2Controllers();
  if (v2 && ["memory", "pids", "cpu"].every((c) => v2.controllers.includes(c))) return "cgroup2";
  const cpu = cgroup1Mount("cpu");
  if (cgroup1Mount("memory") && cgroup1Mount("pids") && cpu && existsSync(join(cpu.path, ownPath("cpu"), "cpu.cfs_quota_us"))) return "cgroup1";
  return undefined;
}

/**
 * Sets up limits for one workload (same id, same cgroup: a restart reuses it). A CPU limit that no cgroup on this
 * host can take is NEX_E_UNSUPPORTED_LIMIT: there is no weaker stand-in to fall back to.
 */
export function createLimits(id: string, limits: Limits, allowCgroups = isRoot()): WorkloadLimits {
  if (allowCgroups && (preferred !== "rlimit" || limits.cpus !== undefined)) {
    const order = preferred === "cgroup1" ? [tryCgroup1, tryCgroup2] : [tryCgroup2, tryCgroup1];
    for (const attempt of order) {
      const got = attempt(id, limits);
      if (got) {
        if (limits.cpus === undefined) preferred = got.kind;
        return got;
      }
    }
  }
  if (limits.cpus !== undefined) {
    throw new NexError("NEX_E_UNSUPPORTED_LIMIT", `cpus: no cgroup cpu controller on this host took the workload's CPU limit of ${limits.cpus}`);
  }
  preferred = "rlimit";
  return rlimits(limits);
}
