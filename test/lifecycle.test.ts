import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { NexClient } from "../src/client/index.js";
import { TestEnv, check } from "../src/testkit/index.js";
import type { NexNode } from "../src/node/node.js";

describe("lifecycle", () => {
  let env: TestEnv;
  let node: NexNode;
  let client: NexClient;
  let seedFile: string;

  before(async () => {
    env = await TestEnv.start();
    seedFile = join(env.dir, "node.seed");
    node = await env.node({ seedFile, name: "keeper" });
    client = await env.client();
  });
  after(async () => env.stop());

  test("lifecycle - redeploying the same name replaces the running workload", async () => {
    const v1 = await env.deployJs(client, "dev", `() => "v1"`, ["dev"]);
    assert.equal((await client.invoke("dev", "")).string(), "v1");
    const v2 = await env.deployJs(client, "dev", `() => "v2"`, ["dev"]);
    assert.equal(v2.replaced, v1.id);
    assert.equal((await client.invoke("dev", "")).string(), "v2");
    const list = await client.list({ name: "dev" });
    assert.deepEqual(list.map((w) => w.id), [v2.id]);
  });

  test("lifecycle - stop removes the workload and its trigger", async () => {
    await env.deployJs(client, "gone", `() => "here"`, ["gone"]);
    assert.equal((await client.invoke("gone", "")).string(), "here");
    const { stopped } = await client.stop("gone");
    assert.equal(stopped.length, 1);
    await assert.rejects(client.invoke("gone", "", { timeoutMs: 1_000 }), (e: Error & { code?: string }) => e.code === "NEX_E_NO_NODES");
    await assert.rejects(client.stop("gone"), (e: Error & { code?: string }) => e.code === "NEX_E_NOT_FOUND");
  });

  test("lifecycle - nats-server restarted under a running node: the node carries on with its triggers", async () => {
    await env.deployJs(client, "survivor", `(s, p) => "alive:" + p.length`, ["survivor"]);
    await env.restartServer(300);
    await check(async () => {
      try {
        return (await client.invoke("survivor", "abc", { timeoutMs: 1_000 })).string() === "alive:3";
      } catch {
        return false;
      }
    }, 20_000, 200);
    const pinged = await check(async () => (await client.ping()).length === 1, 10_000);
    assert.ok(pinged);
    const redeployed = await env.deployJs(client, "after-restart", `() => "fresh"`, ["after.restart"]);
    assert.equal(redeployed.nodeId, node.id);
    assert.equal((await client.invoke("after.restart", "")).string(), "fresh");
  });

  test("lifecycle - a node restarted with its seed file restores its workloads", async () => {
    const before = (await client.list()).map((w) => `${w.name}:${w.id}`).sort();
    assert.ok(before.length >= 2);
    await node.stop();
    await assert.rejects(client.invoke("survivor", "", { timeoutMs: 500 }));
    node = await env.node({ seedFile, name: "keeper" });
    const after = (await client.list()).map((w) => `${w.name}:${w.id}`).sort();
    assert.deepEqual(after, before, "same workloads, same ids");
    assert.equal((await client.invoke("survivor", "ab")).string(), "alive:2");
    assert.equal((await client.invoke("dev", "")).string(), "v2");
    assert.ok(!after.some((w) => w.startsWith("gone:")), "a stopped workload stays stopped");
  });

  test("lifecycle - lame duck drains the workloads and stops the node", async () => {
    let stopped = false;
    node.onStopped(() => (stopped = true));
    await (await env.adminClient()).lameduck(node.id, 100);
    await check(() => stopped, 10_000);
    assert.deepEqual(await client.ping(), []);
  });
});
