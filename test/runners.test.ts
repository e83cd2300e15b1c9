/**
 * More than one runner process per namespace (`runnersPerNamespace`): every function is loaded into each runner,
 * their queue group splits the load, counters add up across them, and a runner that dies is respawned with its
 * functions while the others keep serving. Which runner served what is read from the node's per-runner metrics
 * (`nex_runner_invocations`, from each runner's own counters over the stats IPC).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { NexClient } from "../src/client/index.js";
import { NexError, TRIGGER_CONSUMER, subjects, type NexEvent } from "../src/contract/index.js";
import type { NexNode } from "../src/node/node.js";
import { resolveNodeOptions } from "../src/node/options.js";
import { REPO_ROOT, TestEnv, check } from "../src/testkit/index.js";
import { alive, runnerPids } from "./helpers/runners.js";

/** `nex_runner_invocations` of the default namespace's v8 runners, by runner index. */
async function perRunner(node: NexNode): Promise<Map<string, number>> {
  const text = await (await fetch(node.metricsUrl!)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^nex_runner_invocations\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
    if (labels["namespace"] === "default" && labels["type"] === "v8") out.set(labels["runner"]!, Number(m[2]));
  }
  return out;
}

/** The runner processes of the node as the metrics count them. */
async function runnerGauge(node: NexNode): Promise<number> {
  const text = await (await fetch(node.metricsUrl!)).text();
  return Number(/^nex_node_runners\{type="v8"\} (\S+)$/m.exec(text)?.[1] ?? 0);
}

/** What `nex ls --json` says about one function. */
async function listed(env: TestEnv, name: string): Promise<{ state: string; invocations: number; restarts: number } | undefined> {
  const r = await env.cli(["ls", "--json", "--name", name]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { name: string; state: string; invocations: number; restarts: number }[]).find((w) => w.name === name);
}

/** Sends `n` requests at once, each with its own payload, and checks each got its own answer. */
async function burst(client: NexClient, subject: string, n: number, tag: string): Promise<void> {
  const replies = await Promise.all(Array.from({ length: n }, (_, i) => client.invoke(subject, `${tag}-${i}`, { timeoutMs: 20_000 })));
  assert.deepEqual(
    replies.map((m) => m.string()),
    Array.from({ length: n }, (_, i) => `echo:${tag}-${i}`),
  );
}

const ECHO = `(subject, payload) => "echo:" + new TextDecoder().decode(payload)`;

void describe("runners per namespace", () => {
  let env: TestEnv;
  let node: NexNode;
  let client: NexClient;
  let nc: NatsConnection;

  before(async () => {
    env = await TestEnv.start();
    // v8 only, so every runner process this test sees is a v8 one (a wasm runtime would warm two of its own).
    node = await env.node({ runnersPerNamespace: 2, metricsPort: 0, types: ["v8"] });
    client = await env.client();
    nc = await env.nc();
  });
  after(async () => env.stop());

  void test("runners - the option is checked: 1 to 16", () => {
    const base = { connection: { servers: ["nats://127.0.0.1:4222"] }, sandbox: false };
    assert.equal(resolveNodeOptions(base).tunables.runnersPerNamespace, 1, "one runner by default");
    assert.equal(resolveNodeOptions({ ...base, runnersPerNamespace: 16 }).tunables.runnersPerNamespace, 16);
    for (const bad of [0, 17, 1.5, -1]) {
      assert.throws(
        () => resolveNodeOptions({ ...base, runnersPerNamespace: bad }),
        (e: unknown) => e instanceof NexError && e.code === "NEX_E_INVALID_FIELD" && /runners/.test(e.message),
        String(bad),
      );
    }
  });

  void test("runners - nex node up --runners takes 1 to 16, and nex node info shows the runners", async () => {
    for (const bad of ["0", "17"]) {
      const r = await env.cli(["node", "up", "--runners", bad]);
      assert.notEqual(r.code, 0, bad);
      assert.match(r.stderr, /NEX_E_INVALID_FIELD: (--)?runners: must be an integer/, bad);
    }
    const info = await env.cli(["node", "info", node.id]);
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /runners\s+2 per namespace; v8\/default#0 pid \d+.*, v8\/default#1 pid \d+/);
  });

  void test("runners - a namespace has two runner processes, and 200 concurrent requests are answered once each, by both", async () => {
    await env.deployJs(client, "spread", ECHO, ["spread"]);
    assert.equal(runnerPids().length, 2, "two runner processes");
    assert.equal(await runnerGauge(node), 2, "the node's metrics count both");
    const info = await client.info(node.id);
    assert.equal(info.runnersPerNamespace, 2);
    assert.deepEqual(
      (info.runners ?? []).map((r) => [r.type, r.namespace, r.runner]).sort(),
      [["v8", "default", 0], ["v8", "default", 1]],
      "INFO lists both runners",
    );
    assert.deepEqual((info.runners ?? []).map((r) => r.pid).sort(), runnerPids().sort(), "with their processes");
    await burst(client, "spread", 200, "a");
    const per = await perRunner(node);
    assert.deepEqual([...per.keys()].sort(), ["0", "1"]);
    assert.ok(per.get("0")! > 0 && per.get("1")! > 0, `both runners served: ${JSON.stringify([...per])}`);
    assert.equal(per.get("0")! + per.get("1")!, 200, "each request ran once");
    assert.equal((await listed(env, "spread"))?.invocations, 200, "nex ls shows the sum");
    const [inspected] = await client.inspect("spread");
    const recent = inspected?.recentInvocations ?? [];
    assert.equal(recent.length, 50, "activity merged from both, capped as for one runner");
    assert.deepEqual(recent.map((r) => r.time), [...recent.map((r) => r.time)].sort(), "oldest first");
  });

  void test("runners - a killed runner leaves the function answering through the other, and comes back with it", async () => {
    const restarted: NexEvent[] = [];
    const sub = nc.subscribe(subjects.event("default", "runner_restarted"), { callback: (_e, m) => void restarted.push(m.json<NexEvent>()) });
    await nc.flush();
    const before = (await listed(env, "spread"))!.invocations;
    const pids = runnerPids();
    assert.equal(pids.length, 2);
    const victim = pids[0]!;
    process.kill(victim, "SIGKILL");
    await check(() => !alive(victim));
    // The survivor answers (a request the server still routed to the dead connection gets no reply, so ask again).
    await check(async () => (await client.invoke("spread", "still", { timeoutMs: 1_000 })).string() === "echo:still");
    const event = await check(() => restarted[0]);
    const index = String((event.data as { runner?: number }).runner);
    assert.match(index, /^[01]$/, "the event names the runner");
    // Respawned: two runners again, the killed one replaced.
    await check(() => {
      const now = runnerPids();
      return now.length === 2 && !now.includes(victim);
    }, 30_000);
    // The new process holds the function again: it serves a share of the requests.
    await check(async () => {
      await burst(client, "spread", 20, "b");
      return ((await perRunner(node)).get(index) ?? 0) > 0;
    }, 30_000);
    sub.unsubscribe();
    const after = (await listed(env, "spread"))!;
    assert.equal(after.state, "running");
    assert.ok(after.invocations >= before, `counters never go back: ${after.invocations} after ${before}`);
    assert.equal(after.restarts, 1, "one runner died under it");
  });

  void test("runners - a stop removes the function from both runners", async () => {
    await env.deployJs(client, "gone", ECHO, ["gone"]);
    await burst(client, "gone", 50, "c");
    await client.stop("gone");
    assert.equal(await listed(env, "gone"), undefined);
    // Were it left in either runner, that one would take every message of the queue group and answer.
    for (let i = 0; i < 5; i++) await assert.rejects(client.invoke("gone", `x${i}`, { timeoutMs: 1_000 }), "no runner answers any more");
    // Both runners still run, and only the other function is left in them.
    assert.equal(runnerPids().length, 2);
    await burst(client, "spread", 10, "d");
  });

  void test("runners - a durable function's consumer allows concurrency × replicas × runners unacknowledged messages, and each message runs once", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "RUNNERS_DONE", subjects: ["rdone.>"] });
    const fn = `(subject, payload) => { messaging.publish("rdone." + new TextDecoder().decode(payload), "1"); return "ok"; }`;
    await env.deployJs(client, "steady", fn, ["steady.in"], { durable: true, maxConcurrency: 3 });
    const stream = subjects.triggerStream("default", "steady");
    const info = await jsm.consumers.info(stream, TRIGGER_CONSUMER);
    assert.equal(info.config.max_ack_pending, 3 * 1 * 2);
    for (let i = 0; i < 100; i++) nc.publish("steady.in", `m${i}`);
    await nc.flush();
    const done = await check(async () => {
      const s = await jsm.streams.info("RUNNERS_DONE", { subjects_filter: "rdone.>" });
      return Object.keys(s.state.subjects ?? {}).length === 100 ? s : undefined;
    }, 30_000);
    assert.deepEqual(Object.values(done.state.subjects ?? {}).filter((n) => n !== 1), [], "no message ran twice");
    await client.stop("steady", { deleteStream: true });
  });

  void test("runners - each scheduled tick runs once, in one runner, and the runners take turns", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "RUNNERS_TICKS", subjects: ["rtick.>"] });
    const before = new Map(((await client.info(node.id)).runners ?? []).map((r) => [r.runner, r.invocations ?? 0]));
    const source = `(subject, payload, ctx) => { messaging.publish("rtick." + Date.parse(ctx.scheduledAt), "1"); }`;
    await env.deployJs(client, "clock", source, [], { schedule: "@every 1s" });
    const seen = await check(async () => {
      const st = await jsm.streams.info("RUNNERS_TICKS", { subjects_filter: "rtick.>" });
      return Object.keys(st.state.subjects ?? {}).length >= 4 ? st.state.subjects : undefined;
    }, 30_000);
    assert.deepEqual(Object.entries(seen).filter(([, n]) => n !== 1), [], "no tick ran twice");
    // Only the ticks ran in this test, so what each runner counted since is its share of them (read while the
    // runners still hold the function: what they count is for the functions they hold).
    const runners = (await client.info(node.id)).runners ?? [];
    await client.stop("clock");
    const share = runners.map((r) => (r.invocations ?? 0) - (before.get(r.runner) ?? 0));
    assert.ok(share.every((n) => n > 0), `both runners ran ticks: ${JSON.stringify(share)}`);
  });

  // Last, as its node adds runner processes of its own.
  void test("runners - wasm runners are as many, and share a wasm function's load", async () => {
    const wasmNode = await env.node({ name: "wasm-runners", types: ["wasm"], runnersPerNamespace: 2, warmRunners: false });
    const { location, sha256 } = await client.uploadArtifact("echo.wasm", readFileSync(join(REPO_ROOT, "examples", "wasm", "echo", "echo.wasm")));
    await client.deploy({ name: "wecho", type: "wasm", location, sha256, triggers: ["wecho"] }, { node: wasmNode.id });
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => client.invoke("wecho", `w${i}`, { timeoutMs: 20_000 })));
    assert.deepEqual(
      replies.map((m) => m.string()),
      Array.from({ length: 100 }, (_, i) => `w${i}wecho`),
    );
    const info = await client.info(wasmNode.id);
    const runners = (info.runners ?? []).filter((r) => r.type === "wasm");
    assert.deepEqual(runners.map((r) => r.runner).sort(), [0, 1], "two wasm runners");
    assert.ok(runners.every((r) => (r.invocations ?? 0) > 0), `both served: ${JSON.stringify(runners.map((r) => r.invocations))}`);
    assert.equal(runners.reduce((n, r) => n + (r.invocations ?? 0), 0), 100, "each request ran once");
    assert.equal(info.workloadList.find((w) => w.name === "wecho")?.invocations, 100);
    await client.stop("wecho");
  });
});
