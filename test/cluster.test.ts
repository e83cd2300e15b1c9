import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { NexClient } from "../src/client/index.js";
import { TestEnv, check } from "../src/testkit/index.js";
import type { NexNode } from "../src/node/node.js";

describe("cluster", () => {
  let env: TestEnv;
  let a: NexNode;
  let b: NexNode;
  let client: NexClient;

  before(async () => {
    env = await TestEnv.start();
    a = await env.node({ name: "node-a", tags: { zone: "a" } });
    b = await env.node({ name: "node-b", tags: { zone: "b" } });
    client = await env.client();
  });
  after(async () => env.stop());

  test("cluster - ping finds every node, and filters by tag", async () => {
    const all = await client.ping();
    assert.deepEqual(all.map((n) => n.name).sort(), ["node-a", "node-b"]);
    const onlyB = await client.ping({ zone: "b" });
    assert.deepEqual(onlyB.map((n) => n.nodeId), [b.id]);
    for (const n of all) {
      for (const k of ["nex.os", "nex.arch", "nex.cpus", "nex.memory_mib", "nex.version"]) assert.ok(n.tags[k], `automatic tag ${k}`);
    }
  });

  test("cluster - two replicas on two nodes: every message is handled exactly once", async () => {
    const r = await env.deployJs(client, "shared", `(s, p) => { console.log(String.fromCharCode(...p)); return "ok"; }`, ["shared.work"], { replicas: 2 }, { node: a.id });
    assert.equal(r.replicas, 2);
    const list = await check(async () => {
      const l = await client.list({ name: "shared" });
      return l.length === 2 && new Set(l.map((w) => w.nodeId)).size === 2 ? l : undefined;
    });
    assert.equal(list.length, 2, "one instance on each node");
    const nc = await env.nc();
    const seen: string[] = [];
    const seenBy: string[] = [];
    nc.subscribe("$NEX.FEED.default.logs.shared.>", {
      callback: (_e, m) => {
        seen.push(m.string());
        seenBy.push(m.subject.split(".")[5]!);
      },
    });
    await nc.flush();
    const N = 200;
    const by: Record<string, number> = {};
    await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const m = await client.invoke("shared.work", `m${i}`);
        assert.equal(m.string(), "ok");
      }),
    );
    await check(() => seen.length >= N);
    for (const s of seenBy) by[s] = (by[s] ?? 0) + 1;
    assert.equal(Object.keys(by).length, 2, `both instances share the load: ${JSON.stringify(by)}`);
    assert.equal(new Set(seen).size, N, "no message ran twice");
    assert.equal(seen.length, N, "no message ran twice");
  });

  test("cluster - placement prefers the less loaded node and honours tags", async () => {
    const onA = (await client.list()).filter((w) => w.nodeId === a.id).length;
    const onB = (await client.list()).filter((w) => w.nodeId === b.id).length;
    const bids = await client.auction("v8");
    assert.equal(bids.length, 2);
    assert.ok(bids[0]!.score <= bids[1]!.score, "bids are sorted best first");
    // Make one node clearly busier, then a new workload must land on the other.
    const busy = onA <= onB ? b : a;
    const idle = busy === a ? b : a;
    for (let i = 0; i < 5; i++) await env.deployJs(client, `filler${i}`, `() => 1`, [`filler.${i}`], {}, { node: busy.id });
    const r = await env.deployJs(client, "placed", `() => "here"`, ["placed"]);
    assert.equal(r.nodeId, idle.id);
    assert.equal(r.bids, 2);
    const tagged = await env.deployJs(client, "tagged", `() => "b"`, ["tagged"], { tags: { zone: "b" } });
    assert.equal(tagged.nodeId, b.id);
    await assert.rejects(
      client.deploy({ name: "nowhere", type: "v8", location: env.file("n.js", "() => 1"), triggers: ["nowhere"] }, { tags: { zone: "mars" } }),
      (e: Error & { code?: string }) => e.code === "NEX_E_NO_NODES",
    );
  });

  test("cluster - redeploying a name elsewhere replaces the old instance", async () => {
    await env.deployJs(client, "mover", `() => "v1"`, ["mover"], {}, { node: a.id });
    const r = await env.deployJs(client, "mover", `() => "v2"`, ["mover"], {}, { node: b.id });
    assert.equal(r.generation, 2);
    // Node a's reconciler sees generation 2 and gives up its generation 1 instance.
    const list = await check(async () => {
      const l = await client.list({ name: "mover" });
      return l.length === 1 ? l : undefined;
    });
    assert.deepEqual(list.map((w) => w.nodeId), [b.id]);
    assert.equal((await client.invoke("mover", "")).string(), "v2");
  });

  test("cluster - a lame duck node takes no deploys and bids in no auctions", async () => {
    await (await env.adminClient()).lameduck(a.id, 60_000);
    const bids = await client.auction("v8");
    assert.deepEqual(bids.map((x) => x.node.nodeId), [b.id]);
    await assert.rejects(
      env.deployJs(client, "late", `() => 1`, ["late"], {}, { node: a.id }),
      (e: Error & { code?: string }) => e.code === "NEX_E_LAMEDUCK",
    );
    const pinged = await client.ping();
    assert.equal(pinged.find((n) => n.nodeId === a.id)?.state, "lameduck");
    assert.equal(pinged.find((n) => n.nodeId === a.id)?.tags["nex.lameduck"], "true");
  });
});
