/**
 * A node killed with SIGKILL leaves no workload process behind, in either mode, and the same node (same seed file)
 * brings its workloads back on start. Nodes run as `nex node up` subprocesses, so they can be killed for real.
 */
import { strict as assert } from "node:assert";
import type { ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { NatsConnection } from "@nats-io/nats-core";
import type { NexClient } from "../src/client/index.js";
import { REPO_ROOT, TestEnv, check, waitForOutput } from "../src/testkit/index.js";
import { LogCollector, buildGoEcho, cgroupDirsOf, deployFile, processesMentioning, summary } from "./helpers/native.js";

const FIXTURES = join(REPO_ROOT, "test", "fixtures", "native");

interface NodeProc {
  child: ChildProcess;
  id: string;
}

void describe("native restore", () => {
  let env: TestEnv;
  let dir: string;
  let echo: string;
  let nc: NatsConnection;
  let client: NexClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "nex-native-restore-"));
    chmodSync(dir, 0o755);
    [env, echo] = await Promise.all([TestEnv.start(), buildGoEcho(dir)]);
    nc = await env.nc();
    client = await env.client();
  });
  after(async () => {
    await env?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts `nex node up` from source, so the test runs the code under test and not a stale build. */
  async function nodeUp(name: string, sandbox: boolean): Promise<NodeProc> {
    const args = ["node", "up", "--name", name, "--seed-file", join(dir, `${name}.nk`), "--data-dir", join(dir, name), "--allow-file-dir", dir, "--allow-file-dir", REPO_ROOT];
    args.push(sandbox ? "--sandbox" : "--no-sandbox", "--types", "native", "--no-warm", "--heartbeat", "1s");
    const child = env.spawnCli(args, { NEX_FROM_SOURCE: "1" });
    const out = await waitForOutput(child, /id:\s+(N[A-Z2-7]{55})/, 30_000);
    return { child, id: /id:\s+(N[A-Z2-7]{55})/.exec(out)![1]! };
  }

  function kill9(n: NodeProc): Promise<void> {
    return new Promise((resolve) => {
      n.child.once("exit", () => resolve());
      n.child.kill("SIGKILL");
    });
  }

  void test("native restore - SIGKILL of the node leaves no orphan, and a restarted node restores its workloads", async () => {
    let sbx = await nodeUp("restore-sbx", true);
    let host = await nodeUp("restore-host", false);
    const echoId = await deployFile(client, sbx.id, "echo-go", echo, { restart: "always" });
    const daemonId = await deployFile(client, host.id, "daemon", join(FIXTURES, "daemonize.sh"));
    assert.equal((await check(async () => (await nc.request("svc.echo", "before", { timeout: 250 })).string(), 20_000)), "before");
    // The shell, its loop's sleep, and the setsid'd daemon with its own sleep.
    await check(() => processesMentioning(daemonId).length >= 4, 10_000);
    // The workload itself carries its id in its environment (the sandbox launchers carry nothing of it).
    assert.ok(processesMentioning(echoId).length >= 1);

    await Promise.all([kill9(sbx), kill9(host)]);
    await check(() => processesMentioning(echoId).length === 0 && processesMentioning(daemonId).length === 0, 5_000);
    await assert.rejects(nc.request("svc.echo", "after", { timeout: 500 }));

    const logs = new LogCollector(nc, "default", "daemon");
    try {
      sbx = await nodeUp("restore-sbx", true);
      host = await nodeUp("restore-host", false);
      assert.equal((await check(async () => (await nc.request("svc.echo", "again", { timeout: 250 })).string(), 20_000)), "again");
      await logs.waitFor(/daemon started/);
    } finally {
      logs.close();
    }
    const echoAgain = await summary(client, "echo-go");
    assert.equal(echoAgain?.id, echoId, "the same workload came back");
    assert.equal(echoAgain?.nodeId, sbx.id);
    assert.equal((await summary(client, "daemon"))?.id, daemonId);

    await client.stop("echo-go");
    await client.stop("daemon");
    await check(() => processesMentioning(echoId).length === 0 && processesMentioning(daemonId).length === 0, 5_000);
    assert.deepEqual([...cgroupDirsOf(echoId), ...cgroupDirsOf(daemonId)], [], "cgroups left by the killed node are gone too");
    sbx.child.kill("SIGTERM");
    host.child.kill("SIGTERM");
  });
});
