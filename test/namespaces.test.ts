import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { TestEnv, check } from "../src/testkit/index.js";
import type { NexNode } from "../src/node/node.js";
import type { NexEvent } from "../src/contract/index.js";

describe("namespaces and heartbeats", () => {
  let env: TestEnv;
  let teamA: NexNode;

  before(async () => {
    env = await TestEnv.start();
    teamA = await env.node({ name: "team-a-node", namespaces: ["team-a"] });
    await env.node({ name: "shared-node" });
  });
  after(async () => env.stop());

  test("namespaces - a node that serves only some namespaces bids only for them", async () => {
    const a = await env.client("team-a");
    const b = await env.client("team-b");
    assert.equal((await a.auction("v8")).length, 2);
    const bidsB = await b.auction("v8");
    assert.equal(bidsB.length, 1);
    assert.notEqual(bidsB[0]!.node.nodeId, teamA.id);
    await assert.rejects(
      env.deployJs(b, "nope", "() => 1", ["nope"], {}, { node: teamA.id }),
      (e: Error & { code?: string }) => e.code === "NEX_E_NODE_NOT_FOUND",
    );
  });

  test("namespaces - workloads of one namespace are invisible to another", async () => {
    const a = await env.client("team-a");
    const b = await env.client("team-b");
    await env.deployJs(a, "same-name", `() => "a"`, ["ns.a"]);
    await env.deployJs(b, "same-name", `() => "b"`, ["ns.b"]);
    assert.deepEqual((await a.list()).map((w) => w.namespace), ["team-a"]);
    assert.deepEqual((await b.list()).map((w) => w.namespace), ["team-b"]);
    assert.equal((await a.invoke("ns.a", "")).string(), "a");
    assert.equal((await b.invoke("ns.b", "")).string(), "b");
    await b.stop("same-name");
    assert.equal((await a.invoke("ns.a", "")).string(), "a", "stopping in team-b leaves team-a alone");
  });

  test("heartbeats - nodes send node_heartbeat CloudEvents in the system namespace", async () => {
    const nc = await env.adminNc();
    const beats: NexEvent[] = [];
    nc.subscribe("$NEX.FEED.system.events.node_heartbeat", { callback: (_e, m) => void beats.push(m.json<NexEvent>()) });
    await check(() => new Set(beats.map((b) => b.subject)).size >= 2, 10_000);
    const beat = beats[0]!;
    assert.equal(beat.specversion, "1.0");
    assert.equal(beat.type, "io.nex.node_heartbeat");
    assert.match(beat.source, /^nex:\/\/node\/N/);
    assert.equal(typeof beat.data["workloads"], "number");
  });
});
