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
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { NexError, type WorkloadSpec } from "../../contract/index.js";
import { workloadNatsUrl } from "../../nats/connect.js";
import type { ArtifactRef, Runtime, RuntimeHost, WorkloadHandle } from "../runtime.js";
import { inspectExecutable } from "./artifact.js";
import { createLimits } from "./cgroups.js";
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

/** Runs native executables as supervised child processes. */
export class NativeRuntime implements Runtime {
  readonly type = "native" as const;
  private readonly workloads = new Set<NativeWorkload>();
  private pidNamespace: boolean | undefined;
  private readonly opts: SupervisorOptions;

  constructor(
    private readonly host: RuntimeHost,
    opts: Partial<SupervisorOptions> = {},
  ) {
    this.opts = { ...SUPERVISOR_DEFAULTS, ...opts };
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
    const limits = createLimits(spec.id, { memoryBytes: spec.memoryLimitMiB * MiB, maxProcesses: spec.maxProcesses });
    const conn = this.host.connection;
    // Without a sandbox a workload still gets its own scratch directory, not the node's working directory.
    const workDir = join(this.host.dataDir, "native", spec.id);
    if (!sandbox) mkdirSync(workDir, { recursive: true });
    const command = (): ReturnType<typeof launchCommand> =>
      launchCommand({
        spec,
        nodeId: this.host.nodeId,
        kind,
        // Checked at every start: a cache file damaged since the deploy is rewritten, never executed.
        artifactPath: artifact.checkedPath?.() ?? artifact.path,
        sandbox,
        pidNamespace: this.pidNamespace ?? false,
        natsUrl: workloadNatsUrl(conn),
        credsFile: conn.credsFile,
        nkeySeedFile: conn.nkeySeedFile,
        cgroupProcsFiles: limits.procsFiles,
        rlimitArgs: limits.rlimitArgs,
        workDir,
        dropPrivileges: isRoot(),
      });
    const w = new NativeWorkload(spec, this.host, command, limits, this.opts);
    const removeWorkDir = (): void => rmSync(workDir, { recursive: true, force: true });
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
