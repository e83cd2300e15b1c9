import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { statSync } from "node:fs";
import { join } from "node:path";
import { TestEnv, check, collect, spawnCli, waitForOutput, REPO_ROOT } from "../src/testkit/index.js";

const ECHO = join(REPO_ROOT, "examples", "js", "echo.js");

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe("cli", () => {
  let env: TestEnv;

  before(async () => {
    env = await TestEnv.start();
  });
  after(async () => env.stop());

  test("cli - the talk's echo flow: node up, devrun, req", async () => {
    const node = env.spawnCli(["node", "up", "--name", "cli-node", "--data-dir", join(env.dir, "cli-node")]);
    await waitForOutput(node, /is up/);
    const dev = await env.cli(["devrun", ECHO, "--trigger_subject=echo", "--type", "v8"]);
    assert.equal(dev.code, 0, dev.stderr);
    assert.match(dev.stdout, /deployed default\/echo \(v8\)/);
    const req = await env.cli(["req", "echo", "hello nex!"]);
    assert.equal(req.code, 0, req.stderr);
    assert.equal(req.stdout, '{"triggered_on":"echo","payload":"hello nex!"}\n');
    const ls = await env.cli(["ls", "--json"]);
    const list = JSON.parse(ls.stdout) as { name: string; state: string; invocations: number }[];
    assert.deepEqual(list.map((w) => [w.name, w.state]), [["echo", "running"]]);
    assert.equal(list[0]!.invocations, 1);
    const logs = await check(async () => {
      const r = await env.cli(["logs", "echo"]);
      return r.stdout.includes("echo[") && r.stdout.trimEnd().endsWith(" echo") ? r : undefined;
    });
    assert.match(logs.stdout, /echo\[\w+\] echo/);
    const events = await env.cli(["events"]);
    assert.match(events.stdout, /workload_deployed/);
    assert.doesNotMatch(events.stdout, /node_started/, "a namespace sees its own events, not the nodes'");
    const system = await env.cli(["events", "--system"]);
    assert.match(system.stdout, /node_started/);
    const nodes = await env.cli(["node", "ls"]);
    assert.match(nodes.stdout, /cli-node/);
    const stop = await env.cli(["stop", "echo"]);
    assert.equal(stop.code, 0, stop.stderr);
    const gone = await env.cli(["req", "echo", "x", "--timeout", "1000"]);
    assert.equal(gone.code, 1);
    node.kill("SIGTERM");
    const exit = await collect(node, 10_000);
    assert.equal(exit.code, 0, "node up exits cleanly on SIGTERM");
  });

  test("cli - the dashed and underscored trigger flags both work, and a function error exits non-zero", async () => {
    const node = env.spawnCli(["node", "up", "--data-dir", join(env.dir, "cli-node2")]);
    await waitForOutput(node, /is up/);
    const fn = env.file("fail.js", `(s, p) => { if (p.length) throw new Error("no thanks"); return "ok"; }`).replace("file://", "");
    const dev = await env.cli(["devrun", fn, "--trigger-subject", "fail.a", "--trigger_subject=fail.b"]);
    assert.equal(dev.code, 0, dev.stderr);
    assert.equal((await env.cli(["req", "fail.a", ""])).stdout, "ok\n");
    const bad = await env.cli(["req", "fail.b", "x"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /NEX_E_FUNCTION_ERROR: no thanks/);
    assert.match(bad.stderr, /hint:/);
    const badDeploy = await env.cli(["devrun", fn, "--trigger-subject", "$SYS.nope"]);
    assert.equal(badDeploy.code, 1);
    assert.match(badDeploy.stderr, /NEX_E_FORBIDDEN_SUBJECT/);
    const json = await env.cli(["ls", "--json", "--name", "fail"]);
    assert.equal((JSON.parse(json.stdout) as unknown[]).length, 1);
    node.kill("SIGTERM");
    await collect(node, 10_000);
  });

  test("cli - nex run deploys from http:// and file:// locations, and refuses a wrong sha256", async () => {
    const { createHash } = await import("node:crypto");
    const { readFileSync } = await import("node:fs");
    const { createServer: createHttp } = await import("node:http");
    const node = env.spawnCli(["node", "up", "--data-dir", join(env.dir, "cli-run"), "--allow-file-dir", join(REPO_ROOT, "examples")]);
    await waitForOutput(node, /is up/);
    const body = readFileSync(ECHO);
    const sha = createHash("sha256").update(body).digest("hex");
    const web = createHttp((_req, res) => res.end(body));
    await new Promise<void>((r) => web.listen(0, "127.0.0.1", () => r()));
    try {
      const url = `http://127.0.0.1:${(web.address() as { port: number }).port}/echo.js`;
      const viaHttp = await env.cli(["run", url, "--name", "webecho", "--trigger-subject", "webecho", "--sha256", sha]);
      assert.equal(viaHttp.code, 0, viaHttp.stderr);
      assert.equal((await env.cli(["req", "webecho", "hi"])).stdout, '{"triggered_on":"webecho","payload":"hi"}\n');
      const viaFile = await env.cli(["run", `file://${ECHO}`, "--name", "fileecho", "--trigger-subject", "fileecho"]);
      assert.equal(viaFile.code, 0, viaFile.stderr);
      assert.equal((await env.cli(["req", "fileecho", "yo"])).stdout, '{"triggered_on":"fileecho","payload":"yo"}\n');
      const wrong = await env.cli(["run", url, "--name", "bad", "--trigger-subject", "bad", "--sha256", "0".repeat(64)]);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /NEX_E_HASH_MISMATCH/);
    } finally {
      web.close();
      node.kill("SIGTERM");
      await collect(node, 10_000);
    }
  });

  test("cli - node up --allow-egress opens a loopback port to functions' HTTP calls; a bad entry is refused", async () => {
    const { createServer: createHttp } = await import("node:http");
    const web = createHttp((_req, res) => res.end("from loopback"));
    await new Promise<void>((r) => web.listen(0, "127.0.0.1", () => r()));
    const port = (web.address() as { port: number }).port;
    await env.namespace("egress");
    const bad = await env.cli(["node", "up", "--data-dir", join(env.dir, "egress-bad"), "--allow-egress", "not a host!"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /NEX_E_INVALID_FIELD/);
    assert.match(bad.stderr, /allow-egress/);
    const node = env.spawnCli(["node", "up", "--namespaces", "egress", "--data-dir", join(env.dir, "egress-node"), "--allow-egress", `127.0.0.1:${port}`]);
    try {
      await waitForOutput(node, /is up/);
      const fn = join(env.dir, "egress.js");
      const { writeFileSync } = await import("node:fs");
      writeFileSync(fn, `(s, p) => { const u = new TextDecoder().decode(p); try { return http.get(u).response; } catch (e) { return e.message; } }`);
      const dev = await env.cli(["devrun", fn, "--trigger_subject=egress.get", "--type", "v8", "-n", "egress"]);
      assert.equal(dev.code, 0, dev.stderr);
      const open = await env.cli(["req", "egress.get", `http://127.0.0.1:${port}/`, "-n", "egress"]);
      assert.equal(open.stdout.trim(), "from loopback");
      const closed = await env.cli(["req", "egress.get", `http://127.0.0.1:${port + 1 > 65535 ? port - 1 : port + 1}/`, "-n", "egress"]);
      assert.match(closed.stdout, /refused: 127\.0\.0\.1 is a loopback address/);
    } finally {
      web.close();
      node.kill("SIGTERM");
      await collect(node, 10_000);
    }
  });

  test("cli - without a reachable NATS, commands fail with a clear message", async () => {
    const r = await collect(spawnCli(["ls"], { NATS_URL: "nats://127.0.0.1:1" }), 20_000);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
    assert.match(r.stderr, /nex up/);
  });

  test("cli - nex up says how to install nats-server when it is missing", async () => {
    const port = await freePort();
    const r = await collect(
      spawnCli(["up", "--data-dir", join(env.dir, "up-missing")], {
        NATS_URL: `nats://127.0.0.1:${port}`,
        NEX_NATS_SERVER: join(env.dir, "no-such-nats-server"),
      }),
      20_000,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nats-server is not installed/);
    assert.match(r.stderr, /apt-get install -y nats-server/);
  });

  test("cli - nex up starts NATS and a node, serves a function, and Ctrl-C stops both", async (t) => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const home = join(env.dir, "up-home");
    const local = { NATS_URL: url, NEX_HOME: home };
    const up = spawnCli(["up", "--ws-port", String(await freePort())], local);
    t.after(() => {
      if (up.exitCode === null && up.signalCode === null) up.kill("SIGKILL");
    });
    await waitForOutput(up, /is up/, 30_000);
    // The talk's flow, unchanged: the CLI finds the credentials nex up made in the home.
    const dev = await collect(spawnCli(["devrun", ECHO, "--trigger_subject=echo"], local), 30_000);
    assert.equal(dev.code, 0, dev.stderr);
    const req = await collect(spawnCli(["req", "echo", "hello nex!"], local), 30_000);
    assert.equal(req.stdout, '{"triggered_on":"echo","payload":"hello nex!"}\n');
    // Anonymous clients get nothing: the server runs in operator mode.
    const anon = await collect(spawnCli(["req", "echo", "x"], { NATS_URL: url, NEX_HOME: join(env.dir, "empty-home") }), 20_000);
    assert.equal(anon.code, 1);
    assert.match(anon.stderr, /Authorization Violation/);
    for (const f of ["operator.json", "system.json", "accounts/nex.json", "accounts/default.json", "creds/default.creds", "creds/nex.creds"]) {
      assert.equal(statSync(join(home, "auth", f)).mode & 0o777, 0o600, `${f} is 0600`);
    }
    up.kill("SIGINT");
    const done = await collect(up, 15_000);
    assert.equal(done.code, 0);
    const after = await collect(spawnCli(["ls"], local), 20_000);
    assert.equal(after.code, 1, "the embedded NATS server is gone too");
  });
});
