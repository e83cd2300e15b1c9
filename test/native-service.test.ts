/** Native services through a real node and nats-server: the talk's Go echo service, a Node script, restarts, stop, jobs. */
import { strict as assert } from "node:assert";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { NatsConnection } from "@nats-io/nats-core";
import type { NexClient } from "../src/client/index.js";
import type { NexNode } from "../src/node/node.js";
import { REPO_ROOT, TestEnv, check } from "../src/testkit/index.js";
import { EventCollector, LogCollector, buildGoEcho, cgroupDirsOf, deployFile, processesMentioning, summary } from "./helpers/native.js";

const FIXTURES = join(REPO_ROOT, "test", "fixtures", "native");

/** Polls svc.echo until it answers; returns the answer and how long it took. */
async function firstReply(nc: NatsConnection, subject: string, payload: string, t0: number): Promise<{ text: string; ms: number }> {
  const text = await check(async () => (await nc.request(subject, payload, { timeout: 250 })).string(), 20_000, 10);
  return { text, ms: performance.now() - t0 };
}

function uidOf(pid: number): number {
  const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1]);
}

void describe("native services", () => {
  let env: TestEnv;
  let dir: string;
  let echo: string;
  let nc: NatsConnection;
  let client: NexClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "nex-native-"));
    chmodSync(dir, 0o755);
    [env, echo] = await Promise.all([TestEnv.start(), buildGoEcho(dir)]);
    nc = await env.nc();
    client = await env.client();
  });
  after(async () => {
    await env?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function node(sandbox: boolean): Promise<NexNode> {
    return env.node({ sandbox, types: ["native"], warmRunners: false });
  }

  for (const sandbox of [true, false]) {
    const mode = sandbox ? "sandbox" : "no sandbox";
    void test(`native - the Go echo service answers svc.echo and shows in $SRV discovery (${mode})`, async (t) => {
      const n = await node(sandbox);
      t.after(() => n.stop());
      const logs = new LogCollector(nc, "default", "echo-go");
      t.after(() => logs.close());
      // Polling starts with the deploy request, so the figure is not inflated by the client's post-deploy bookkeeping.
      const t0 = performance.now();
      const reply = firstReply(nc, "svc.echo", "can you repeat?", t0);
      const id = await deployFile(client, n.id, "echo-go", echo, { restart: "always" });
      const { text, ms } = await reply;
      assert.equal(text, "can you repeat?");
      t.diagnostic(`deploy-to-first-reply (${mode}): ${ms.toFixed(0)} ms`);

      // nats.go 1.22.1 answers with the early schema ({subject}); newer ones list endpoints[]. Both are accepted.
      const info = (await nc.request("$SRV.INFO.EchoService", "", { timeout: 2_000 })).json<Record<string, unknown>>();
      assert.equal(info["name"], "EchoService");
      const endpoints = (info["endpoints"] as { subject: string }[] | undefined)?.map((e) => e.subject) ?? [info["subject"]];
      assert.ok(endpoints.includes("svc.echo"), `INFO lists svc.echo: ${JSON.stringify(info)}`);
      const ping = (await nc.request("$SRV.PING.EchoService", "", { timeout: 2_000 })).json<Record<string, unknown>>();
      assert.equal(ping["name"], "EchoService");

      const pids = processesMentioning(id);
      assert.ok(pids.length > 0, "the workload's processes are visible on the host");
      // The wrappers above the workload stay root where they must (cgroup entry, pid namespace); the workload does not.
      const uids = pids.map(uidOf);
      if (sandbox) assert.deepEqual([...new Set(uids)], [65534], "every process of the sandbox runs as nobody");
      assert.ok(uids.includes(65534), "the workload itself runs as nobody, with or without the sandbox");
      const s = await summary(client, "echo-go");
      assert.equal(s?.state, "running");
      assert.equal(s?.restarts, 0);

      await client.stop("echo-go");
      // SIGTERM reached the Go program itself (not just its wrappers): it logged a clean stop.
      await logs.waitFor(/EchoService stopped/);
      await check(() => processesMentioning(id).length === 0, 5_000);
      assert.deepEqual(cgroupDirsOf(id), [], "its cgroups are removed");
    });
  }

  void test("native - a Node script service runs without a sandbox and logs line by line", async (t) => {
    const n = await node(false);
    t.after(() => n.stop());
    const logs = new LogCollector(nc, "default", "echo-node");
    t.after(() => logs.close());
    const id = await deployFile(client, n.id, "echo-node", join(FIXTURES, "echo-service.cjs"), {
      env: { NODE_PATH: join(REPO_ROOT, "node_modules"), ECHO_SUBJECT: "svc.node-echo" },
    });
    const { text } = await firstReply(nc, "svc.node-echo", "hi", performance.now());
    assert.equal(text, "node: hi");
    assert.match(await logs.waitFor(/^listening on/), /^listening on svc\.node-echo as echo-node pid \d+$/);
    await client.stop("echo-node");
    await logs.waitFor(/^SIGTERM: draining$/);
    await check(() => processesMentioning(id).length === 0, 5_000);
  });

  void test("native - a script is refused by a sandboxed node", async (t) => {
    const n = await node(true);
    t.after(() => n.stop());
    await assert.rejects(deployFile(client, n.id, "script", join(FIXTURES, "job.sh"), { lifecycle: "job" }), /NEX_E_BAD_ARTIFACT|script/);
  });

  void test("native - a crash loop restarts with exponential backoff and shows in ls, events and logs", async (t) => {
    const n = await node(false);
    t.after(() => n.stop());
    const events = new EventCollector(nc, "default");
    const logs = new LogCollector(nc, "default", "crasher");
    t.after(() => (events.close(), logs.close()));
    const id = await deployFile(client, n.id, "crasher", join(FIXTURES, "crash.sh"), { restart: "on-failure" });
    await check(() => events.of("workload_restarting", id).length >= 3, 10_000);
    const delays = events.of("workload_restarting", id).map((e) => e.data["delayMs"] as number);
    assert.deepEqual(delays.slice(0, 3), [250, 500, 1000], "each restart waits twice as long");
    assert.ok(events.of("workload_exited", id).every((e) => e.data["exitCode"] === 3));
    const s = await check(async () => {
      const x = await summary(client, "crasher");
      return x && x.restarts >= 2 ? x : undefined;
    });
    assert.ok(["backoff", "running", "starting"].includes(s.state), `state ${s.state}`);
    assert.equal(s.exitCode, 3);
    assert.equal(s.lastError, "exited with code 3");
    await logs.waitFor(/exited with code 3; restarting in \d+ ms/);
    assert.ok(logs.lines.some((l) => l.line === "crash: starting, about to fail"));
    await client.stop("crasher");
    const before = events.of("workload_restarting", id).length;
    await check(async () => (await summary(client, "crasher")) === undefined);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(events.of("workload_restarting", id).length, before, "no restart after stop");
  });

  void test("native - stop kills a process tree that ignores SIGTERM after the grace period", async (t) => {
    const n = await node(false);
    t.after(() => n.stop());
    const logs = new LogCollector(nc, "default", "stubborn");
    t.after(() => logs.close());
    const id = await deployFile(client, n.id, "stubborn", join(FIXTURES, "ignore-term.sh"));
    await logs.waitFor(/ignoring SIGTERM/);
    await check(() => processesMentioning(id).length >= 3);
    const t0 = Date.now();
    await client.stop("stubborn");
    const took = Date.now() - t0;
    assert.ok(took >= 4_500, `stop waited for the grace period (${took} ms)`);
    await check(() => processesMentioning(id).length === 0, 3_000);
  });

  void test("native - a job runs to completion and reports its exit code", async (t) => {
    const n = await node(false);
    t.after(() => n.stop());
    const events = new EventCollector(nc, "default");
    t.after(() => events.close());
    const ok = await deployFile(client, n.id, "job-ok", join(FIXTURES, "job.sh"), { lifecycle: "job", argv: ["things", "0"] });
    const bad = await deployFile(client, n.id, "job-bad", join(FIXTURES, "job.sh"), { lifecycle: "job", argv: ["things", "7"] });
    const exited = await check(() => events.of("workload_exited", bad)[0]);
    assert.equal(exited.data["exitCode"], 7);
    const s = await check(async () => {
      const x = await summary(client, "job-bad");
      return x?.state === "failed" ? x : undefined;
    });
    assert.equal(s.exitCode, 7);
    assert.equal(s.restarts, 0, "a job is not restarted by default");
    const sOk = await check(async () => {
      const x = await summary(client, "job-ok");
      return x?.state === "exited" ? x : undefined;
    });
    assert.equal(sOk.exitCode, 0);
    assert.equal(events.of("workload_exited", ok)[0]?.data["exitCode"], 0);
    await client.stop("job-ok");
    await client.stop("job-bad");
  });
});
