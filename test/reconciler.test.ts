/**
 * Automatic node management: desired state is the truth, and every node keeps it true through faults. Each case is a
 * fault seen on the earlier, failover-only design, reproduced here and shown to converge.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NexClient } from "../src/client/index.js";
import { NODES_BUCKET, STATE_BUCKET, type NexEvent, type WorkloadSummary } from "../src/contract/index.js";
import type { NexNode } from "../src/node/node.js";
import { TestEnv, check } from "../src/testkit/index.js";
import { EventCollector } from "./helpers/native.js";
import { childrenOf, kill9, nodeUp, stopNode, type NodeProc } from "./helpers/nodes.js";

const running = (l: WorkloadSummary[]): WorkloadSummary[] => l.filter((w) => w.state === "running");

/** Waits until exactly `n` instances of `name` run, and that stays true for `steadyMs`. */
async function exactly(client: NexClient, name: string, n: number, timeoutMs: number, steadyMs = 3_000): Promise<WorkloadSummary[]> {
  const deadline = Date.now() + timeoutMs;
  let since = 0;
  for (;;) {
    const list = running(await client.list({ name }).catch(() => []));
    if (list.length === n) {
      since ||= Date.now();
      if (Date.now() - since >= steadyMs) return list;
    } else since = 0;
    if (Date.now() > deadline) throw new Error(`${name}: ${list.length} instances after ${timeoutMs} ms, wanted exactly ${n}: ${JSON.stringify(list.map((w) => w.nodeId.slice(0, 6)))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

void describe("reconciler (one server)", () => {
  let env: TestEnv;
  let client: NexClient;
  const procs: NodeProc[] = [];

  before(async () => {
    env = await TestEnv.start();
    client = await env.client();
  });
  after(async () => {
    await Promise.all(procs.map((p) => kill9(p)));
    await env.stop();
  });

  const up = async (name: string, extra: string[] = []): Promise<NodeProc> => {
    const p = await nodeUp(env, name, extra);
    procs.push(p);
    return p;
  };

  void test("reconciler - a survivor restarted just before the other node dies moves its workloads within 15 s", async () => {
    const doomed = await up("doomed");
    let survivor = await up("survivor");
    await env.deployJs(client, "phoenix", `() => "risen"`, ["phoenix"], {}, { node: doomed.id });
    assert.equal((await client.invoke("phoenix", "")).string(), "risen");
    await stopNode(survivor);
    survivor = await up("survivor");
    await kill9(doomed);
    const t0 = Date.now();
    const [moved] = await exactly(client, "phoenix", 1, 15_000, 500);
    assert.equal(moved!.nodeId, survivor.id);
    assert.ok(Date.now() - t0 < 15_000);
    assert.equal((await client.invoke("phoenix", "")).string(), "risen");
    await client.stop("phoenix");
    await stopNode(survivor);
  });

  void test("reconciler - a node restarted while its workload moves ends with exactly one instance", async () => {
    let a = await up("mover-a");
    const b = await up("mover-b");
    await env.deployJs(client, "single", `() => "one"`, ["single"], {}, { node: a.id });
    await kill9(a);
    // Back before the others judged it lost: it resumes its instance while they may be placing another.
    await new Promise((r) => setTimeout(r, 3_000));
    a = await up("mover-a");
    const list = await exactly(client, "single", 1, 15_000);
    assert.ok([a.id, b.id].includes(list[0]!.nodeId));
    await client.stop("single");
    await Promise.all([stopNode(a), stopNode(b)]);
  });

  void test("reconciler - replicas: one per node, kept at 3 through the loss of a node when a fourth is there", async () => {
    const nodes = [await up("r1"), await up("r2"), await up("r3")];
    await env.deployJs(client, "trio", `() => "ok"`, ["trio"], { replicas: 3, spread: true }, { node: nodes[0]!.id });
    const three = await exactly(client, "trio", 3, 20_000, 1_000);
    assert.equal(new Set(three.map((w) => w.nodeId)).size, 3, "one per node");
    const fourth = await up("r4");
    await kill9(nodes[1]!);
    const after = await check(async () => {
      const l = running(await client.list({ name: "trio" }));
      return l.length === 3 && l.some((w) => w.nodeId === fourth.id) ? l : undefined;
    }, 20_000, 250);
    assert.equal(new Set(after.map((w) => w.nodeId)).size, 3, "still one per node");
    assert.ok(!after.some((w) => w.nodeId === nodes[1]!.id));
    await client.stop("trio");
    await Promise.all([nodes[0]!, nodes[2]!, fourth].map(stopNode));
  });

  void test("reconciler - a finished job is not run again when its node restarts, and ls keeps its result", async () => {
    let n = await up("jobs", ["--types", "native", "--no-sandbox", "--allow-file-dir", "/bin"]);
    const events = new EventCollector(await env.nc(), "default");
    try {
      await client.deploy({ name: "once", type: "native", location: "file:///bin/true", lifecycle: "job" }, { node: n.id });
      await check(async () => (await client.status({ name: "once" })).desired[0]?.done, 10_000);
      const deployed = (): number => events.of("workload_deployed").filter((e: NexEvent) => e.data["name"] === "once").length;
      assert.equal(deployed(), 1);
      await stopNode(n);
      n = await up("jobs", ["--types", "native", "--no-sandbox", "--allow-file-dir", "/bin"]);
      await new Promise((r) => setTimeout(r, 3_000));
      assert.equal(deployed(), 1, "the job did not run again");
      const st = await client.status({ name: "once" });
      assert.equal(st.desired[0]?.done?.exitCode, 0);
    } finally {
      events.close();
      await client.stop("once").catch(() => undefined);
      await stopNode(n);
    }
  });

  void test("reconciler - a sandboxed workload moves only to a node with the sandbox", async () => {
    const native = ["--types", "native", "--allow-file-dir", "/bin"];
    const sbx = await up("sbx-1", [...native, "--sandbox"]);
    const plain = await up("plain", [...native, "--no-sandbox"]);
    await client.deploy({ name: "boxed", type: "native", location: "file:///bin/sleep", argv: ["600"] }, { node: sbx.id });
    await kill9(sbx);
    await new Promise((r) => setTimeout(r, 8_000));
    assert.deepEqual(running(await client.list({ name: "boxed" })).map((w) => w.nodeId), [], "the node without the sandbox does not take it");
    const sbx2 = await up("sbx-2", [...native, "--sandbox"]);
    const [moved] = await exactly(client, "boxed", 1, 20_000, 500);
    assert.equal(moved!.nodeId, sbx2.id);
    await client.stop("boxed");
    await Promise.all([plain, sbx2].map(stopNode));
  });
});

void describe("reconciler (in-process nodes)", () => {
  let env: TestEnv;
  let node: NexNode;
  let client: NexClient;
  const logs: string[] = [];

  before(async () => {
    env = await TestEnv.start();
    node = await env.node({ tunables: { runnerPingMs: 200, runnerUnresponsiveMs: 1_500 } }, (l) => void logs.push(l));
    client = await env.client();
  });
  after(() => env.stop());

  void test("reconciler - a frozen runner is killed and replaced, with its functions", async () => {
    await env.deployJs(client, "steady", `() => "alive"`, ["steady"]);
    const runnerPid = childrenOf(process.pid).find((p) => existsRunner(p));
    assert.ok(runnerPid, "a runner process");
    const events = new EventCollector(await env.nc(), "default");
    try {
      process.kill(runnerPid, "SIGSTOP");
      await check(() => events.of("runner_unresponsive").length > 0, 10_000);
      assert.equal((await check(async () => (await client.invoke("steady", "", { timeoutMs: 1_000 })).string(), 20_000, 250)), "alive");
    } finally {
      events.close();
      try {
        process.kill(runnerPid, "SIGKILL");
      } catch {
        // already killed by the node
      }
    }
  });

  void test("reconciler - a spec not signed by a known node is refused and reported, never run", async () => {
    const admin = await env.adminNc();
    const kv = await new Kvm(admin).open(STATE_BUCKET);
    const forged = { payload: JSON.stringify({ v: 1, key: "default.evil", template: { name: "evil", namespace: "default", type: "native", location: "file:///bin/sh" } }), signer: "NAAAA", sig: "AAAA" };
    const events = new EventCollector(await env.nc(), "default");
    try {
      await kv.put("default.evil", JSON.stringify(forged));
      await check(() => events.of("workload_refused").some((e) => e.data["name"] === "evil"), 10_000);
      assert.deepEqual(await client.list({ name: "evil" }), []);
      assert.ok(logs.some((l) => /refusing desired state default\.evil/.test(l)));
    } finally {
      events.close();
      await kv.delete("default.evil");
    }
  });

  void test("reconciler - a failed state save leaves nothing running; a lost state bucket is loud, kept and put back", async () => {
    await env.deployJs(client, "keeper", `() => "kept"`, ["keeper"]);
    const jsm = await jetstreamManager(await env.adminNc());
    await jsm.streams.delete(`KV_${STATE_BUCKET}`);
    const events = new EventCollector(await env.adminNc(), "system");
    try {
      await assert.rejects(env.deployJs(client, "doomed-deploy", `() => 1`, ["doomed.deploy"]), (e: Error & { code?: string }) => e.code === "NEX_E_DEPLOY_FAILED");
      assert.deepEqual(await client.list({ name: "doomed-deploy" }), [], "nothing left running");
      assert.equal((await client.invoke("keeper", "")).string(), "kept", "what ran keeps running");
      await check(() => events.of("state_store_lost").length > 0, 10_000);
      assert.ok(logs.some((l) => /desired-state bucket is gone/.test(l)));
      await check(() => events.of("state_store_restored").length > 0, 15_000);
      const info = await client.info(node.id);
      assert.equal(info.stateStore, "ok");
      const st = await client.status({ name: "keeper" });
      assert.equal(st.desired[0]?.name, "keeper", "the known workloads were put back");
    } finally {
      events.close();
    }
  });
});

void describe("reconciler (three-server cluster)", () => {
  let env: TestEnv;
  let client: NexClient;
  const procs: NodeProc[] = [];

  before(async () => {
    env = await TestEnv.start({ cluster: 3 });
    client = await env.client();
  });
  after(async () => {
    await Promise.all(procs.map((p) => kill9(p)));
    await env.stop();
  });

  void test("reconciler - with the server that leads the state killed, deploys still work and a dead node's workloads still move", async () => {
    const a = await nodeUp(env, "c-a");
    const b = await nodeUp(env, "c-b");
    procs.push(a, b);
    const jsm = await jetstreamManager(await env.adminNc());
    for (const s of [`KV_${STATE_BUCKET}`, `KV_${NODES_BUCKET}`, "NEX_CLAIMS"]) assert.equal((await jsm.streams.info(s)).config.num_replicas, 3, `${s} is replicated`);
    const leader = (await jsm.streams.info(`KV_${STATE_BUCKET}`)).cluster?.leader ?? "n0";
    await env.killServer(Number(leader.replace(/^n/, "")));
    // A request sent while the client's own server goes away is lost with the connection: wait until it is back.
    await check(async () => client.request("PING", a.id, {}), 30_000, 200);
    const r = await check(async () => env.deployJs(client, "ha", `() => "ha"`, ["ha"], {}, { node: a.id }), 40_000, 500).catch((err: Error) => {
      throw new Error(`${err.message}\nnode a said:\n${a.logs()}`);
    });
    assert.equal(r.nodeId, a.id);
    await kill9(a);
    const [moved] = await exactly(client, "ha", 1, 45_000, 500).catch((err: Error) => {
      throw new Error(`${err.message}\nnode b said:\n${b.logs()}`);
    });
    assert.equal(moved!.nodeId, b.id);
    assert.equal((await client.invoke("ha", "")).string(), "ha");
  });
});

void describe("reconciler (three-server cluster, a node started without quorum)", () => {
  let env: TestEnv;
  let client: NexClient;
  const procs: NodeProc[] = [];

  before(async () => {
    env = await TestEnv.start({ cluster: 3 });
    client = await env.client();
  });
  after(async () => {
    await Promise.all(procs.map((p) => kill9(p)));
    await env.stop();
  });

  void test("reconciler - a node started while JetStream cannot answer waits for it, and then takes over a lost node's workload", async () => {
    const a = await nodeUp(env, "q-a");
    let b = await nodeUp(env, "q-b");
    procs.push(a, b);
    await env.deployJs(client, "steadfast", `() => "here"`, ["steadfast"], {}, { node: a.id });
    await kill9(b);
    // Two of three servers down: no stream has a leader, so every JetStream request of the starting node times out.
    await env.killServer(1);
    await env.killServer(2);
    const starting = nodeUp(env, "q-b");
    await new Promise((r) => setTimeout(r, 8_000));
    await env.startServer(1);
    await env.startServer(2);
    b = await starting;
    procs.push(b);
    await kill9(a);
    const [moved] = await exactly(client, "steadfast", 1, 45_000, 500).catch((err: Error) => {
      throw new Error(`${err.message}\nnode b said:\n${b.logs()}`);
    });
    assert.equal(moved!.nodeId, b.id);
    assert.equal((await client.invoke("steadfast", "")).string(), "here");
    assert.match(b.logs(), /JetStream did not answer/);
    assert.doesNotMatch(b.logs(), /running without persistent state/);
  });
});

/** True when `pid` is one of our runner processes. */
function existsRunner(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "latin1").includes("runner/main");
  } catch {
    return false;
  }
}
