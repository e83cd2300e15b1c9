/**
 * The sandbox holds: probes run as jobs inside it (the host's /bin/dash, a dynamic binary, is the artifact, so the
 * probes need no toolchain). Each probe also runs without a sandbox, where it must see what the sandbox hides:
 * that is what proves the probe itself can tell.
 */
import { strict as assert } from "node:assert";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { NatsConnection } from "@nats-io/nats-core";
import type { NexClient } from "../src/client/index.js";
import type { DeployRequest, WorkloadSummary } from "../src/contract/index.js";
import type { NexNode } from "../src/node/node.js";
import { TestEnv, check } from "../src/testkit/index.js";
import { LogCollector, cgroupDirsOf, cpuSecondsOf, deployFile, processesMentioning, summary } from "./helpers/native.js";

const SHELL = "/bin/dash";
const BASH = "/bin/bash";

interface ProbeResult {
  out: string;
  s: WorkloadSummary;
}

void describe("native sandbox", () => {
  let env: TestEnv;
  let nc: NatsConnection;
  let client: NexClient;
  let sandboxed: NexNode;
  let host: NexNode;
  let rootHost: NexNode;
  let seq = 0;

  before(async () => {
    env = await TestEnv.start();
    nc = await env.nc();
    client = await env.client();
    sandboxed = await env.node({ sandbox: true, types: ["native"], warmRunners: false, name: "sbx" });
    host = await env.node({ sandbox: false, types: ["native"], warmRunners: false, name: "host" });
    rootHost = await env.node({ sandbox: false, types: ["native"], warmRunners: false, name: "roothost", workloadUser: "root" });
  });
  after(() => env?.stop());

  /** Runs a shell script as a job and returns its output once it has exited. */
  async function probe(node: NexNode, script: string, args: string[] = [], extra: Partial<DeployRequest> = {}, shell = SHELL): Promise<ProbeResult> {
    const name = `probe-${++seq}`;
    const logs = new LogCollector(nc, "default", name);
    try {
      const id = await deployFile(client, node.id, name, shell, { lifecycle: "job", argv: ["-c", script, name, ...args], ...extra });
      const s = await check(async () => {
        const x = await summary(client, name);
        return x && (x.state === "exited" || x.state === "failed") ? x : undefined;
      }, 20_000);
      // The last line nex writes after an exit says the output is complete.
      await logs.waitFor(/^nex: probe-\d+ (exited|killed)/);
      await client.stop(name);
      assert.deepEqual(processesMentioning(id), [], "nothing of the probe is left");
      assert.deepEqual(cgroupDirsOf(id), [], "its cgroups are gone");
      return { out: logs.text(), s };
    } finally {
      logs.close();
    }
  }

  async function nodeIsHealthy(node: NexNode): Promise<void> {
    const nodes = await client.ping();
    assert.ok(nodes.some((n) => n.nodeId === node.id && n.state === "running"), "the node still answers");
    const { out } = await probe(node, "echo still-fine");
    assert.match(out, /still-fine/);
  }

  void test("native sandbox - cannot read /etc/shadow or the node's data dir", async () => {
    const script = [
      'if read l < /etc/shadow; then echo "shadow readable"; else echo "shadow hidden"; fi',
      'if [ -e "$1" ]; then echo "datadir visible"; else echo "datadir hidden"; fi',
      'for f in "$1"/artifacts/*; do [ -e "$f" ] && echo "artifact visible"; done',
    ].join("\n");
    const inside = await probe(sandboxed, script, [sandboxed.opts.dataDir]);
    assert.match(inside.out, /shadow hidden/);
    assert.match(inside.out, /datadir hidden/);
    assert.doesNotMatch(inside.out, /readable|visible/);
    // Without a sandbox a root node still runs the workload as nobody: the host's secrets stay out of reach.
    const outside = await probe(host, script, [host.opts.dataDir]);
    assert.match(outside.out, /shadow hidden/);
    assert.match(outside.out, /datadir visible/);
    const asRoot = await probe(rootHost, script, [rootHost.opts.dataDir]);
    assert.match(asRoot.out, /shadow readable/, "--workload-user root runs it as root, as asked");
  });

  void test("native sandbox - cannot see host processes, runs unprivileged, and cannot write outside /tmp", async () => {
    const script = [
      'n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo "processes $n"',
      'while read k v rest; do case "$k" in Uid:|CapEff:|NoNewPrivs:) echo "$k $v";; esac; done < /proc/self/status',
    ].join("\n");
    const writes = [
      'if echo x > /planted 2>/dev/null; then echo "root writable"; else echo "root read-only"; fi',
      'if echo x > "/app/$0" 2>/dev/null; then echo "artifact writable"; else echo "artifact read-only"; fi',
      'if echo x > /tmp/scratch; then echo "tmp writable"; fi',
    ].join("\n");
    const inside = await probe(sandboxed, `${script}\n${writes}`);
    const count = Number(/processes (\d+)/.exec(inside.out)?.[1]);
    assert.ok(count <= 3, `the sandbox sees only its own processes (${count})`);
    assert.match(inside.out, /Uid: 65534/);
    assert.match(inside.out, /CapEff: 0000000000000000/);
    assert.match(inside.out, /NoNewPrivs: 1/);
    assert.match(inside.out, /root read-only/);
    assert.match(inside.out, /artifact read-only/);
    assert.match(inside.out, /tmp writable/);
    // Without a sandbox the workload has its own pid namespace too (so it dies with the node), as nobody.
    const outside = await probe(host, script);
    assert.match(outside.out, /Uid: 65534/);
    assert.match((await probe(rootHost, script)).out, /Uid: 0/);
  });

  void test("native sandbox - noNetwork leaves only the loopback interface", async () => {
    const script = 'while read l; do case "$l" in *:*) echo "if ${l%%:*}";; esac; done < /proc/net/dev';
    const off = await probe(sandboxed, script, [], { noNetwork: true });
    assert.deepEqual(off.out.split("\n").filter((l) => l.startsWith("if ")), ["if lo"]);
    const on = await probe(sandboxed, script);
    assert.ok(on.out.split("\n").filter((l) => l.startsWith("if ")).length > 1, "the shared network has more than lo");
  });

  void test("native sandbox - with the network shared, a service on the host's loopback is reachable; with noNetwork it is not", async (t) => {
    // What docs/sandbox.md says the sandbox cannot enforce: bubblewrap shares the host's network namespace whole.
    const heard: string[] = [];
    const server = createServer((sock) => sock.on("data", (d: Buffer) => void heard.push(d.toString().trim())));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    t.after(() => server.close());
    const port = String((server.address() as AddressInfo).port);
    // bash, for its /dev/tcp; a dynamic binary, so the sandbox binds the system libraries for it.
    const script = 'if exec 3<>"/dev/tcp/127.0.0.1/$1"; then echo "hello from $2" >&3; echo "reached"; else echo "refused"; fi';
    const shared = await probe(sandboxed, script, [port, "shared"], {}, BASH);
    assert.match(shared.out, /reached/);
    await check(() => heard.includes("hello from shared"), 5_000);
    const isolated = await probe(sandboxed, script, [port, "isolated"], { noNetwork: true }, BASH);
    assert.match(isolated.out, /refused/);
    assert.ok(!heard.includes("hello from isolated"), "nothing came from the workload without a network");
  });

  void test("native sandbox - a workload is killed when it goes past its memory limit, and the node is fine", async (t) => {
    // Doubles a string up to 128 MiB: far past the 32 MiB limit, yet harmless if the limit did not hold.
    const script = 's=x; i=0; while [ $i -lt 27 ]; do s="$s$s"; i=$((i+1)); done; echo "survived with ${#s} bytes"';
    const r = await probe(sandboxed, script, [], { memoryLimitMiB: 32 });
    assert.doesNotMatch(r.out, /survived/);
    assert.equal(r.s.state, "failed");
    assert.notEqual(r.s.exitCode, 0);
    t.diagnostic(`lastError: ${r.s.lastError}`);
    assert.match(r.s.lastError ?? "", /out of memory|killed|exited/);
    await nodeIsHealthy(sandboxed);
  });

  void test("native sandbox - a busy loop held to cpus 0.2 uses about a fifth of a CPU, and the kernel throttles it", async (t) => {
    const spin = { argv: ["-c", "while :; do :; done"], restart: "never" as const };
    const limited = await deployFile(client, sandboxed.id, "spin-limited", SHELL, { ...spin, cpus: 0.2 });
    t.after(() => client.stop("spin-limited").catch(() => undefined));
    await check(() => cpuSecondsOf(limited) > 0, 10_000);
    const [c0, w0] = [cpuSecondsOf(limited), performance.now()];
    // A measuring window, not a wait for something to happen.
    await new Promise((r) => setTimeout(r, 1_500));
    const used = (cpuSecondsOf(limited) - c0) / ((performance.now() - w0) / 1000);
    t.diagnostic(`cpus 0.2: ${used.toFixed(2)} of a CPU (load ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} CPUs)`);
    // Wide margins: a behaviour check, not a timing target. A busy host can only make the loop use less.
    assert.ok(used < 0.6, `the limited loop used ${used.toFixed(2)} of a CPU`);
    assert.ok(used > 0.02, "the limited loop ran");
    // The kernel says why: the cgroup's quota ran out, period after period (a host too busy to give even 0.2 may not).
    const stat = cgroupDirsOf(limited).map((d) => join(d, "cpu.stat")).find((f) => existsSync(f));
    assert.ok(stat, "the workload has a cpu cgroup");
    const throttled = Number(/^nr_throttled (\d+)$/m.exec(readFileSync(stat, "utf8"))?.[1]);
    t.diagnostic(`nr_throttled ${throttled}`);
    if (loadavg()[0]! < availableParallelism()) assert.ok(throttled > 0, "the quota held the loop back");
    await nodeIsHealthy(sandboxed);
    await client.stop("spin-limited");
    assert.deepEqual(cgroupDirsOf(limited), [], "its cgroups, the cpu one too, are gone");
  });

  void test("native sandbox - a fork bomb is held to the process limit, and stop kills all of it", async (t) => {
    // Forks 200 spinning children (bounded, so a broken limit cannot hurt the host); the limit is 16. A shell that
    // cannot fork exits, so the forking loop runs in the background and the children it got keep spinning until stop.
    const bomb = "spin() { while :; do :; done; }; (i=0; while [ $i -lt 200 ]; do spin & i=$((i+1)); done) & while :; do wait; done";
    const logs = new LogCollector(nc, "default", "bomb");
    t.after(() => logs.close());
    const id = await deployFile(client, sandboxed.id, "bomb", SHELL, { argv: ["-c", bomb], maxProcesses: 16, restart: "never" });
    t.after(() => client.stop("bomb").catch(() => undefined));
    let most = 0;
    const until = Date.now() + 2_000;
    while (Date.now() < until) {
      most = Math.max(most, processesMentioning(id).length);
      await new Promise((r) => setTimeout(r, 50));
    }
    t.diagnostic(`most processes seen: ${most}`);
    await logs.waitFor(/Cannot fork/);
    assert.ok(most >= 10, `the bomb went off (${most} processes)`);
    assert.ok(most <= 16, `it never had more than 16 processes (${most})`);
    await nodeIsHealthy(sandboxed);
    await client.stop("bomb");
    await check(() => processesMentioning(id).length === 0, 5_000);
    assert.deepEqual(cgroupDirsOf(id), []);
  });
});
