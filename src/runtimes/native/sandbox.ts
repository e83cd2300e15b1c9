/**
 * Builds the command line that starts one native workload: enter its cgroup, apply rlimits, then either
 * drop to an unprivileged uid and enter a bubblewrap sandbox, or run on the host inside a pid namespace
 * that dies with the node.
 */
import { existsSync, lstatSync, readlinkSync } from "node:fs";
import { dirname } from "node:path";
import type { WorkloadSpec } from "../../contract/index.js";
import type { ExecutableKind } from "./artifact.js";

/** The host uid and gid sandboxed workloads run as ("nobody"). */
const SANDBOX_UID = 65534;

/** Where the artifact appears inside the sandbox. */
const SANDBOX_APP_DIR = "/app";

/** Where the node's NATS credentials appear inside the sandbox. */
const SANDBOX_CREDS = "/run/nex/nats.creds";
/** Where the node's nkey seed appears inside the sandbox. */
const SANDBOX_NKEY = "/run/nex/nats.nk";

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
  /** The verified artifact on the host (executed directly without a sandbox). */
  artifactPath: string;
  sandbox: boolean;
  /** Run host workloads in their own pid namespace (needs unshare and privileges). */
  pidNamespace: boolean;
  natsUrl: string;
  credsFile?: string;
  nkeySeedFile?: string;
  cgroupProcsFiles: string[];
  rlimitArgs: string[];
  /** The node is root: drop to SANDBOX_UID before bwrap (a non-root node's own uid is already unprivileged). */
  dropPrivileges: boolean;
  /** Working directory of a workload without a sandbox (a sandboxed one starts in its private /tmp). */
  workDir: string;
}

/** A ready command. In sandbox mode fd 3 must be the artifact, fd 4 the creds and fd 5 the nkey seed, when present. */
export interface LaunchCommand {
  file: string;
  args: string[];
  /** Environment of the launcher itself (the workload's own, when there is no sandbox). */
  env: Record<string, string>;
  /** Extra files to pass as fds 3, 4, ... */
  fds: string[];
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
  if (input.credsFile) env["NATS_CREDS"] = input.sandbox ? SANDBOX_CREDS : input.credsFile;
  if (input.nkeySeedFile) env["NATS_NKEY"] = input.sandbox ? SANDBOX_NKEY : input.nkeySeedFile;
  return { ...env, ...spec.env };
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

/** bubblewrap arguments for one workload (everything between `bwrap` and the program). */
function bwrapArgs(input: LaunchInput, env: Record<string, string>): { args: string[]; fds: string[] } {
  const { spec } = input;
  const fds = [input.artifactPath];
  const args = ["--unshare-all"];
  if (!spec.noNetwork) args.push("--share-net");
  args.push("--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "nex");
  args.push("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp");
  // The artifact is copied in from an fd the node opened: the node's data dir is never reachable by path.
  args.push("--perms", "0555", "--ro-bind-data", "3", `${SANDBOX_APP_DIR}/${spec.name}`);
  if (input.kind === "dynamic-elf") args.push(...libraryBinds());
  if (!spec.noNetwork) for (const f of NETWORK_FILES) args.push("--ro-bind-try", f, f);
  if (input.credsFile) {
    args.push("--perms", "0400", "--ro-bind-data", String(3 + fds.length), SANDBOX_CREDS);
    fds.push(input.credsFile);
  }
  if (input.nkeySeedFile) {
    args.push("--perms", "0400", "--ro-bind-data", String(3 + fds.length), SANDBOX_NKEY);
    fds.push(input.nkeySeedFile);
  }
  args.push("--remount-ro", "/", "--chdir", "/tmp", "--clearenv");
  for (const [k, v] of Object.entries(env)) args.push("--setenv", k, v);
  return { args, fds };
}

/** The full launch command for a workload. */
export function launchCommand(input: LaunchInput): LaunchCommand {
  const env = workloadEnv(input);
  const prefix: string[] = [];
  if (input.cgroupProcsFiles.length > 0) prefix.push("/bin/sh", "-c", ENTER_CGROUP, "nex-cgroup", ...input.cgroupProcsFiles, "--");
  if (input.rlimitArgs.length > 0) prefix.push(tool("prlimit"), ...input.rlimitArgs, "--");
  const argv = input.spec.argv;
  let cmd: string[];
  let fds: string[] = [];
  let launcherEnv: Record<string, string>;
  let wrapperDepth: number;
  if (input.sandbox) {
    const b = bwrapArgs(input, env);
    fds = b.fds;
    const drop = input.dropPrivileges ? [tool("setpriv"), `--reuid=${SANDBOX_UID}`, `--regid=${SANDBOX_UID}`, "--clear-groups", "--"] : [];
    cmd = [...drop, tool("bwrap"), ...b.args, `${SANDBOX_APP_DIR}/${input.spec.name}`, ...argv];
    launcherEnv = { PATH: HOST_PATH };
    // outer bwrap, then bwrap's pid 1, then the workload
    wrapperDepth = 2;
  } else if (input.pidNamespace) {
    const nsFlags = input.spec.noNetwork ? ["--net"] : [];
    // A non-root node needs a user namespace to own the pid namespace.
    if (!input.dropPrivileges) nsFlags.unshift("--user", "--map-root-user");
    const ns = [tool("unshare"), "--pid", ...nsFlags, "--fork", "--kill-child=SIGKILL", "--mount-proc", "--", "/bin/sh", "-c", HOST_INIT, "nex-init"];
    cmd = [tool("setpriv"), "--pdeathsig", "SIGKILL", "--", ...ns, input.artifactPath, ...argv];
    launcherEnv = env;
    wrapperDepth = 2;
  } else {
    cmd = [tool("setpriv"), "--pdeathsig", "SIGKILL", "--", input.artifactPath, ...argv];
    launcherEnv = env;
    wrapperDepth = 0;
  }
  const all = [...prefix, ...cmd];
  const cwd = input.sandbox ? "/" : input.workDir;
  return { file: all[0]!, args: all.slice(1), env: launcherEnv, fds, cwd, wrapperDepth };
}
