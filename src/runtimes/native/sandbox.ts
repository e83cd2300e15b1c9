/**
 * Builds the command line that starts one native workload: enter its cgroup, apply rlimits, then either
 * drop to an unprivileged uid and enter a bubblewrap sandbox, or run on the host inside a pid namespace
 * that dies with the node.
 */
import { existsSync, lstatSync, readlinkSync } from "node:fs";
import { dirname } from "node:path";
import type { WorkloadSpec } from "../../contract/index.js";
import type { ExecutableKind } from "./artifact.js";

/** Where the artifact appears inside the sandbox. */
const SANDBOX_APP_DIR = "/app";

/** Where the workload's own NATS credentials appear inside the sandbox. */
const SANDBOX_CREDS = "/run/nex/nats.creds";

/** Directories a dynamically linked binary needs: bound read-only, symlinks recreated as symlinks. */
const LIBRARY_DIRS = ["/lib", "/lib64", "/lib32", "/usr/lib", "/usr/lib64", "/usr/lib32"];

/** Host files a networked workload may need to resolve names and check TLS certificates. All are world-readable. */
const NETWORK_FILES = ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl/certs"];

/** Moves the launcher into each cgroup named before `--`, then execs the rest, so no child is ever born outside it. */
const ENTER_CGROUP = 'while [ "$1" != "--" ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

/** Keeps the workload at pid 2, so it gets SIGTERM like any process; pid 1 of a namespace ignores unhandled signals. */
const HOST_INIT = '"$@"; exit $?';

/** Everything needed to build a launch command. */
export interface LaunchInput {
  spec: WorkloadSpec;
  nodeId: string;
  kind: ExecutableKind;
  /** The verified artifact on the host (in host mode, a copy the workload's user may execute). */
  artifactPath: string;
  sandbox: boolean;
  /** Run host workloads in their own pid namespace (needs unshare and privileges). */
  pidNamespace: boolean;
  natsUrl: string;
  /** The text of the workload's own NATS credentials, when it has any. */
  creds?: string;
  /** In host mode, where `creds` was written (readable by the workload's user only). */
  credsPath?: string;
  cgroupProcsFiles: string[];
  rlimitArgs: string[];
  /** The node is root: drop to this uid/gid (sandbox: before bwrap; host mode: inside the pid namespace). */
  dropTo?: { uid: number; gid: number };
  /** Working directory of a workload without a sandbox (a sandboxed one starts in its private /tmp). */
  workDir: string;
}

/** What the launcher feeds the child on fds 3, 4, …: a file to open, or bytes written into a pipe. */
export type LaunchFd = { path: string } | { data: Uint8Array };

/** A ready command. */
export interface LaunchCommand {
  file: string;
  args: string[];
  /** Environment of the launcher itself (the workload's own, when there is no sandbox). */
  env: Record<string, string>;
  /** What fds 3, 4, … carry. */
  fds: LaunchFd[];
  cwd: string;
  /** How many wrapper processes sit above the workload (they must not get SIGTERM: they would kill it outright). */
  wrapperDepth: number;
}

const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const found = new Map<string, string | undefined>();

/** Absolute path of a host tool, so a workload's own PATH never decides what the launcher runs. */
export function hostTool(name: string): string | undefined {
  if (!found.has(name)) found.set(name, HOST_PATH.split(":").map((d) => `${d}/${name}`).find((f) => existsSync(f)));
  return found.get(name);
}

function tool(name: string): string {
  return hostTool(name) ?? name;
}

/** The environment a workload sees: a fixed base, NATS settings, then the deploy request's env. */
function workloadEnv(input: LaunchInput): Record<string, string> {
  const { spec } = input;
  const env: Record<string, string> = {
    // Without a sandbox, `#!/usr/bin/env node` should find the node that runs nex.
    PATH: input.sandbox ? SANDBOX_APP_DIR : `${dirname(process.execPath)}:${HOST_PATH}`,
    HOME: "/tmp",
    NATS_URL: input.natsUrl,
    NEX_NODE_ID: input.nodeId,
    NEX_NAMESPACE: spec.namespace,
    NEX_WORKLOAD_ID: spec.id,
    NEX_WORKLOAD_NAME: spec.name,
  };
  if (input.creds) env["NATS_CREDS"] = input.sandbox ? SANDBOX_CREDS : (input.credsPath ?? "");
  // What the node sets wins over a deploy's env: a workload cannot point itself at another identity.
  return { ...spec.env, ...env };
}

function libraryBinds(): string[] {
  const out: string[] = [];
  for (const dir of LIBRARY_DIRS) {
    if (!existsSync(dir)) continue;
    const st = lstatSync(dir);
    if (st.isSymbolicLink()) out.push("--symlink", readlinkSync(dir), dir);
    else if (st.isDirectory()) out.push("--ro-bind", dir, dir);
  }
  return out;
}

/**
 * bubblewrap arguments for one workload. They travel through a pipe (`--args 3`), not the command line, so the
 * environment a deploy gives a service never shows in `ps`.
 */
function bwrapArgs(input: LaunchInput, env: Record<string, string>): { args: string[]; fds: LaunchFd[] } {
  const { spec } = input;
  // fd 3 carries these arguments themselves; the artifact comes next.
  const fds: LaunchFd[] = [{ data: new Uint8Array(0) }, { path: input.artifactPath }];
  const args = ["--unshare-all"];
  if (!spec.noNetwork) args.push("--share-net");
  args.push("--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "nex");
  args.push("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp");
  // The artifact is copied in from an fd the node opened: the node's data dir is never reachable by path.
  args.push("--perms", "0555", "--ro-bind-data", "4", `${SANDBOX_APP_DIR}/${spec.name}`);
  if (input.kind === "dynamic-elf") args.push(...libraryBinds());
  if (!spec.noNetwork) for (const f of NETWORK_FILES) args.push("--ro-bind-try", f, f);
  if (input.creds) {
    // The credentials never touch the disk: bwrap copies them from a pipe into the sandbox.
    args.push("--perms", "0400", "--ro-bind-data", String(3 + fds.length), SANDBOX_CREDS);
    fds.push({ data: new TextEncoder().encode(input.creds) });
  }
  args.push("--remount-ro", "/", "--chdir", "/tmp", "--clearenv");
  for (const [k, v] of Object.entries(env)) args.push("--setenv", k, v);
  fds[0] = { data: new TextEncoder().encode(args.map((a) => `${a}\0`).join("")) };
  return { args: ["--args", "3"], fds };
}

/** The full launch command for a workload. */
export function launchCommand(input: LaunchInput): LaunchCommand {
  const env = workloadEnv(input);
  const prefix: string[] = [];
  if (input.cgroupProcsFiles.length > 0) prefix.push("/bin/sh", "-c", ENTER_CGROUP, "nex-cgroup", ...input.cgroupProcsFiles, "--");
  if (input.rlimitArgs.length > 0) prefix.push(tool("prlimit"), ...input.rlimitArgs, "--");
  const argv = input.spec.argv;
  let cmd: string[];
  let fds: LaunchFd[] = [];
  let launcherEnv: Record<string, string>;
  let wrapperDepth: number;
  if (input.sandbox) {
    const b = bwrapArgs(input, env);
    fds = b.fds;
    const drop = input.dropTo ? [tool("setpriv"), `--reuid=${input.dropTo.uid}`, `--regid=${input.dropTo.gid}`, "--clear-groups", "--"] : [];
    cmd = [...drop, tool("bwrap"), ...b.args, `${SANDBOX_APP_DIR}/${input.spec.name}`, ...argv];
    launcherEnv = { PATH: HOST_PATH };
    // outer bwrap, then bwrap's pid 1, then the workload
    wrapperDepth = 2;
  } else if (input.pidNamespace) {
    const nsFlags = input.spec.noNetwork ? ["--net"] : [];
    // A non-root node needs a user namespace to own the pid namespace; a root node drops to the workload's user inside it.
    if (!input.dropTo && !isRoot()) nsFlags.unshift("--user", "--map-root-user");
    // A change of uid clears the parent-death signal unshare set, so setpriv sets it again after the drop.
    const drop = input.dropTo
      ? [tool("setpriv"), `--reuid=${input.dropTo.uid}`, `--regid=${input.dropTo.gid}`, "--clear-groups", "--pdeathsig", "SIGKILL", "--"]
      : [];
    const ns = [tool("unshare"), "--pid", ...nsFlags, "--fork", "--kill-child=SIGKILL", "--mount-proc", "--", ...drop, "/bin/sh", "-c", HOST_INIT, "nex-init"];
    cmd = [tool("setpriv"), "--pdeathsig", "SIGKILL", "--", ...ns, input.artifactPath, ...argv];
    launcherEnv = env;
    wrapperDepth = 2;
  } else {
    const drop = input.dropTo ? [`--reuid=${input.dropTo.uid}`, `--regid=${input.dropTo.gid}`, "--clear-groups"] : [];
    cmd = [tool("setpriv"), "--pdeathsig", "SIGKILL", ...drop, "--", input.artifactPath, ...argv];
    launcherEnv = env;
    wrapperDepth = 0;
  }
  const all = [...prefix, ...cmd];
  const cwd = input.sandbox ? "/" : input.workDir;
  return { file: all[0]!, args: all.slice(1), env: launcherEnv, fds, cwd, wrapperDepth };
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}
