/**
 * Native services and jobs: any executable, supervised, in a bubblewrap sandbox or on the host.
 *
 * ```ts
 * const rt = new NativeRuntime(host);
 * const handle = await rt.deploy(spec, artifact); // spec.type === "native"
 * await handle.stop();
 * ```
 */
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NexError, type WorkloadSpec } from "../../contract/index.js";
import type { ArtifactRef, LimitSupport, Runtime, RuntimeHost, WorkloadHandle } from "../runtime.js";
import { inspectExecutable } from "./artifact.js";
import { cpuLimitKind, createLimits } from "./cgroups.js";
import { NativeWorkload, SUPERVISOR_DEFAULTS, type SupervisorOptions } from "./process.js";
import { hostTool, launchCommand } from "./sandbox.js";

const MiB = 1024 * 1024;

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** True when this process may run host workloads in their own pid namespace (so they die with the node). */
function canUsePidNamespace(): boolean {
  const unshare = hostTool("unshare");
  if (!unshare) return false;
  const user = isRoot() ? [] : ["--user", "--map-root-user"];
  try {
    execFileSync(unshare, [...user, "--pid", "--fork", "--kill-child=SIGKILL", "--mount-proc", "--", "true"], { stdio: "ignore", timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * A host workload's own directory: its working directory, its credentials file (readable by its user only) and,
 * when it runs as another user than the node, its own copy of the executable (the node's cache is not theirs to read).
 */
function prepareHostDir(
  dataDir: string,
  spec: WorkloadSpec,
  creds: string | undefined,
  user: { uid: number; gid: number } | undefined,
): { dir: string; creds?: string; refresh(checked: string): string } {
  let dir: string;
  if (user) {
    dir = mkdtempSync(join(tmpdir(), `nex-${spec.id}-`));
    chownSync(dir, user.uid, user.gid);
  } else {
    dir = join(dataDir, "native", spec.id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  chmodSync(dir, 0o700);
  // The executable to run: the node's checked cache file, or (for another user) a fresh copy of it at every start,
  // since that user owns its copy and could have changed it.
  const refresh = (checked: string): string => {
    if (!user) return checked;
    const copy = join(dir, spec.name);
    rmSync(copy, { force: true });
    copyFileSync(checked, copy);
    chmodSync(copy, 0o500);
    chownSync(copy, user.uid, user.gid);
    return copy;
  };
  if (creds === undefined) return { dir, refresh };
  const path = join(dir, "nats.creds");
  writeFileSync(path, creds, { mode: 0o400 });
  if (user) chownSync(path, user.uid, user.gid);
  return { dir, creds: path, refresh };
}

/** Runs native executables as supervised child processes. */
export class NativeRuntime implements Runtime {
  readonly type = "native" as const;
  private readonly workloads = new Set<NativeWorkload>();
  private pidNamespace: boolean | undefined;
  private cpuLimits: boolean | undefined;
  private readonly opts: SupervisorOptions;

  constructor(
    private readonly host: RuntimeHost,
    opts: Partial<SupervisorOptions> = {},
  ) {
    this.opts = { ...SUPERVISOR_DEFAULTS, ...opts };
  }

  limitSupport(): LimitSupport {
    this.cpuLimits ??= cpuLimitKind() !== undefined;
    return { cpus: this.cpuLimits };
  }

  async deploy(spec: WorkloadSpec, artifact: ArtifactRef): Promise<WorkloadHandle> {
    const kind = inspectExecutable(artifact.bytes);
    const sandbox = this.host.sandbox;
    if (sandbox && kind === "script") {
      throw new NexError("NEX_E_BAD_ARTIFACT", "a script cannot run in the sandbox, which holds the artifact but not its interpreter", {
        hint: "Deploy a static binary, or run the script on a node started with --no-sandbox.",
      });
    }
    for (const t of sandbox ? ["bwrap", ...(isRoot() ? ["setpriv"] : [])] : ["setpriv"]) {
      if (!hostTool(t)) throw new NexError("NEX_E_DEPLOY_FAILED", `${t} is not installed on this node`);
    }
    this.pidNamespace ??= !sandbox && canUsePidNamespace();
    if (!sandbox && spec.noNetwork && !this.pidNamespace) {
      throw new NexError("NEX_E_INVALID_FIELD", "noNetwork: this node cannot give a workload its own network namespace");
    }
    const limits = createLimits(spec.id, { memoryBytes: spec.memoryLimitMiB * MiB, maxProcesses: spec.maxProcesses, cpus: spec.cpus });
    const access = await this.host.access.service(spec);
    const dropTo = this.host.workloadUser;
    const host = sandbox ? undefined : prepareHostDir(this.host.dataDir, spec, access.creds, dropTo);
    const command = (): ReturnType<typeof launchCommand> =>
      launchCommand({
        spec,
        nodeId: this.host.nodeId,
        kind,
        // Checked at every start: a cache file damaged since the deploy is rewritten, never executed; a workload that runs
        // as another user gets its own copy of the checked bytes.
        artifactPath: host ? host.refresh(artifact.checkedPath()) : artifact.checkedPath(),
        sandbox,
        pidNamespace: this.pidNamespace ?? false,
        natsUrl: access.url,
        creds: access.creds,
        credsPath: host?.creds,
        cgroupProcsFiles: limits.procsFiles,
        rlimitArgs: limits.rlimitArgs,
        workDir: host?.dir ?? "/",
        dropTo,
      });
    const w = new NativeWorkload(spec, this.host, command, limits, this.opts);
    const removeWorkDir = (): void => {
      if (host) rmSync(host.dir, { recursive: true, force: true });
    };
    try {
      await w.start();
    } catch (err) {
      removeWorkDir();
      throw err;
    }
    this.workloads.add(w);
    return {
      id: w.id,
      stats: () => w.stats(),
      stop: async () => {
        await w.stop();
        this.workloads.delete(w);
        removeWorkDir();
      },
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.workloads].map((w) => w.stop()));
    this.workloads.clear();
  }
}

/** The registry's entry point. */
export function createNativeRuntime(host: RuntimeHost): Runtime {
  return new NativeRuntime(host);
}
