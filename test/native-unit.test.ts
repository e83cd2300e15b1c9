/** Native runtime units, without NATS: line splitting, artifact inspection, backoff, and the sandbox command line. */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import type { WorkloadSpec } from "../src/contract/index.js";
import { inspectExecutable } from "../src/runtimes/native/artifact.js";
import { LineSplitter } from "../src/runtimes/native/lines.js";
import { backoffDelay, exitCodeOf } from "../src/runtimes/native/process.js";
import { launchCommand, type LaunchInput } from "../src/runtimes/native/sandbox.js";

const spec: WorkloadSpec = {
  id: "W1",
  name: "echo",
  namespace: "default",
  type: "native",
  location: "file:///x",
  argv: ["--flag"],
  env: { GREETING: "hi" },
  triggers: [],
  timeoutMs: 5_000,
  memoryLimitMiB: 256,
  lifecycle: "service",
  restart: "on-failure",
  tags: {},
  noNetwork: false,
  maxProcesses: 64,
  maxConcurrency: 1,
  createdAt: new Date(0).toISOString(),
  replicas: 1,
  spread: false,
  generation: 1,
  maxDeliver: 5,
  backoff: [1000],
  noOverlap: false,
  sandboxed: true,
};

function input(over: Partial<LaunchInput> = {}): LaunchInput {
  return {
    spec,
    nodeId: "N1",
    kind: "static-elf",
    artifactPath: "/data/artifacts/abc",
    sandbox: true,
    pidNamespace: true,
    natsUrl: "nats://u:p@127.0.0.1:4222",
    cgroupProcsFiles: ["/sys/fs/cgroup/memory/nex/W1/cgroup.procs"],
    rlimitArgs: [],
    workDir: "/data/native/W1",
    dropTo: { uid: 65534, gid: 65534 },
    ...over,
  };
}

void describe("native units", () => {
  void test("native - output is split into whole lines, CRLF trimmed, long lines cut", () => {
    const got: string[] = [];
    const s = new LineSplitter((l) => got.push(l), 8);
    s.push("one\ntw");
    s.push("o\r\nthree-is-long\npartial");
    s.end();
    assert.deepEqual(got, ["one", "two", "three-is", "-long", "partial"]);
  });

  void test("native - artifacts are classified as static ELF, dynamic ELF or script, and anything else is refused", () => {
    assert.equal(inspectExecutable(new Uint8Array(readFileSync("/bin/sh"))), "dynamic-elf");
    assert.equal(inspectExecutable(new TextEncoder().encode("#!/bin/sh\necho hi\n")), "script");
    assert.throws(() => inspectExecutable(new TextEncoder().encode("console.log(1)")), /NEX_E_BAD_ARTIFACT|ELF/);
    const elf = new Uint8Array(readFileSync("/bin/sh"));
    assert.throws(() => inspectExecutable(elf, process.arch === "arm64" ? "x64" : "arm64"), /built for machine/);
  });

  void test("native - restart delays double up to the cap", () => {
    assert.deepEqual([1, 2, 3, 4].map((a) => backoffDelay(a, 250, 30_000)), [250, 500, 1000, 2000]);
    assert.equal(backoffDelay(20, 250, 30_000), 30_000);
    assert.equal(exitCodeOf(null, "SIGKILL"), 137);
    assert.equal(exitCodeOf(3, null), 3);
  });

  /** The bwrap arguments, which travel NUL-separated through fd 3 rather than on the command line. */
  const piped = (c: ReturnType<typeof launchCommand>): string[] => {
    const f = c.fds[0];
    assert.ok(f && "data" in f, "fd 3 carries bwrap's arguments");
    return new TextDecoder().decode(f.data).split("\0").slice(0, -1);
  };

  void test("native - the sandbox command drops to nobody, unshares everything, and keeps the environment off the command line", () => {
    const c = launchCommand(input());
    const cmdline = [c.file, ...c.args];
    const all = [...cmdline, ...piped(c)];
    assert.equal(c.file, "/bin/sh", "the launcher enters the cgroup before anything else runs");
    assert.ok(all.includes("/sys/fs/cgroup/memory/nex/W1/cgroup.procs"));
    const setpriv = all.findIndex((a) => a.endsWith("/setpriv"));
    const bwrap = all.findIndex((a) => a.endsWith("/bwrap"));
    assert.ok(setpriv > 0 && bwrap > setpriv, "setpriv runs bwrap");
    assert.deepEqual(all.slice(setpriv + 1, setpriv + 4), ["--reuid=65534", "--regid=65534", "--clear-groups"]);
    for (const flag of ["--unshare-all", "--share-net", "--die-with-parent", "--new-session", "--clearenv"]) assert.ok(all.includes(flag), flag);
    assert.deepEqual(all.slice(all.indexOf("--cap-drop"), all.indexOf("--cap-drop") + 2), ["--cap-drop", "ALL"]);
    assert.ok(!all.includes("/data/artifacts/abc"), "the artifact comes in by fd, never by path");
    assert.deepEqual(c.fds[1], { path: "/data/artifacts/abc" });
    assert.deepEqual(cmdline.slice(-4), ["--args", "3", "/app/echo", "--flag"]);
    for (const secret of ["NATS_URL", "GREETING", "hi", "nats://u:p@127.0.0.1:4222"]) assert.ok(!cmdline.includes(secret), `${secret} is not on the command line`);
    const setenv = (k: string): string | undefined => all[all.findIndex((a, i) => a === "--setenv" && all[i + 1] === k) + 2];
    assert.equal(setenv("NATS_URL"), "nats://u:p@127.0.0.1:4222");
    assert.equal(setenv("GREETING"), "hi");
    assert.equal(c.wrapperDepth, 2);
    assert.ok(!("NATS_URL" in c.env), "the launcher's own environment holds no workload settings");
  });

  void test("native - noNetwork drops the shared network; the workload's own creds go in read-only through a pipe", () => {
    const c = launchCommand(input({ spec: { ...spec, noNetwork: true }, creds: "CREDS-TEXT" }));
    const args = piped(c);
    assert.ok(!args.includes("--share-net"));
    assert.deepEqual(c.fds[2], { data: new TextEncoder().encode("CREDS-TEXT") });
    const i = args.indexOf("/run/nex/nats.creds");
    assert.deepEqual(args.slice(i - 4, i), ["--perms", "0400", "--ro-bind-data", "5"]);
    assert.ok(args.includes("NATS_CREDS"));
    assert.ok(![c.file, ...c.args].some((a) => a.includes("CREDS")));
  });

  void test("native - without a sandbox the workload runs in a pid namespace that dies with the node", () => {
    const c = launchCommand(input({ sandbox: false, cgroupProcsFiles: [], dropTo: undefined }));
    const all = [c.file, ...c.args];
    assert.ok(c.file.endsWith("/setpriv"));
    assert.deepEqual(c.args.slice(0, 2), ["--pdeathsig", "SIGKILL"]);
    for (const flag of ["--pid", "--fork", "--kill-child=SIGKILL", "--mount-proc"]) assert.ok(all.includes(flag), flag);
    assert.equal(all.at(-2), "/data/artifacts/abc");
    assert.equal(c.env["NATS_URL"], "nats://u:p@127.0.0.1:4222");
    assert.equal(c.cwd, "/data/native/W1");
    const bare = launchCommand(input({ sandbox: false, pidNamespace: false, cgroupProcsFiles: [], dropTo: undefined }));
    assert.equal(bare.wrapperDepth, 0);
    const dropped = launchCommand(input({ sandbox: false, pidNamespace: false, cgroupProcsFiles: [] }));
    assert.deepEqual(dropped.args.slice(0, 5), ["--pdeathsig", "SIGKILL", "--reuid=65534", "--regid=65534", "--clear-groups"]);
  });
});
