import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { NexClient } from "../src/client/index.js";
import type { NexEvent } from "../src/contract/index.js";
import { TestEnv, check, waitForOutput } from "../src/testkit/index.js";
import type { NexNode } from "../src/node/node.js";

/** Pids whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("failover", () => {
  let env: TestEnv;
  let survivor: NexNode;
  let client: NexClient;

  before(async () => {
    env = await TestEnv.start();
    survivor = await env.node({ name: "survivor" });
    client = await env.client();
  });
  after(async () => env.stop());

  test("failover - the workloads of a node killed with SIGKILL move to a live node", async () => {
    const doomed = env.spawnCli(["node", "up", "--name", "doomed", "--heartbeat", "1s", "--data-dir", join(env.dir, "doomed"), "--allow-file-dir", env.dir]);
    const out = await waitForOutput(doomed, /id:\s+(N[A-Z0-9]+)/);
    const doomedId = /id:\s+(N[A-Z0-9]+)/.exec(out)![1]!;
    await env.deployJs(client, "phoenix", `(s, p) => "risen:" + p.length`, ["phoenix"], {}, { node: doomedId });
    assert.equal((await client.invoke("phoenix", "ab")).string(), "risen:2");
    // The namespace's own events, and the nodes' events in the control plane.
    const events: NexEvent[] = [];
    for (const nc of [await env.nc(), await env.adminNc()]) {
      nc.subscribe("$NEX.FEED.*.events.*", { callback: (_e, m) => void events.push(m.json<NexEvent>()) });
      await nc.flush();
    }
    const runners = childrenOf(doomed.pid!);
    assert.ok(runners.length > 0, "the node has a runner process");

    doomed.kill("SIGKILL");
    await check(() => runners.every((p) => !alive(p)), 10_000);

    const moved = await check(async () => {
      const list = await client.list({ name: "phoenix" });
      return list.length === 1 && list[0]!.nodeId === survivor.id ? list[0] : undefined;
    }, 30_000, 250);
    assert.equal(moved.state, "running");
    assert.equal((await client.invoke("phoenix", "abc")).string(), "risen:3");
    await check(() => events.some((e) => e.type === "io.nex.workload_moved" && e.data["from"] === doomedId), 5_000);
    assert.ok(events.some((e) => e.type === "io.nex.node_lost" && e.subject === doomedId));
  });

  test("failover - a node that stops cleanly keeps its workloads for its own restart", async () => {
    const seed = join(env.dir, "pausing.seed");
    const pausing = env.spawnCli(["node", "up", "--name", "pausing", "--heartbeat", "1s", "--seed-file", seed, "--data-dir", join(env.dir, "pausing"), "--allow-file-dir", env.dir]);
    const out = await waitForOutput(pausing, /id:\s+(N[A-Z0-9]+)/);
    const id = /id:\s+(N[A-Z0-9]+)/.exec(out)![1]!;
    await env.deployJs(client, "paused", `() => "back"`, ["paused"], {}, { node: id });
    pausing.kill("SIGTERM");
    await new Promise((r) => pausing.once("exit", r));
    // Wait longer than failover would take for a lost node.
    await new Promise((r) => setTimeout(r, 6_000));
    assert.deepEqual(await client.list({ name: "paused" }), [], "nothing moved it");
    const again = env.spawnCli(["node", "up", "--name", "pausing", "--heartbeat", "1s", "--seed-file", seed, "--data-dir", join(env.dir, "pausing"), "--allow-file-dir", env.dir]);
    await waitForOutput(again, /is up/);
    assert.equal((await client.invoke("paused", "")).string(), "back");
    again.kill("SIGTERM");
    await new Promise((r) => again.once("exit", r));
  });

  test("failover - lame duck moves a node's workloads to another node", async () => {
    const leaving = await env.node({ name: "leaving" });
    await env.deployJs(client, "tenant", `() => "still served"`, ["tenant"], {}, { node: leaving.id });
    await (await env.adminClient()).lameduck(leaving.id, 0);
    const moved = await check(async () => {
      const list = await client.list({ name: "tenant" });
      return list.length === 1 && list[0]!.nodeId !== leaving.id ? list[0] : undefined;
    }, 20_000, 250);
    assert.equal(moved.nodeId, survivor.id);
    assert.equal((await client.invoke("tenant", "")).string(), "still served");
  });
});
