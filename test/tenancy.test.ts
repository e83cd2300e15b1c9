/**
 * Tenancy against a real operator-mode nats-server: every attack a hostile tenant tried on a single-account node,
 * tried again, each ending in a coded error or a NATS permission violation, while two namespaces run the talk's
 * functions side by side.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Kvm } from "@nats-io/kv";
import { jetstreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/nats-core";
import { claimsOf } from "../src/auth/jwts.js";
import { errorFromReply, type NexClient } from "../src/client/index.js";
import { NexError, STATE_BUCKET, subjects } from "../src/contract/index.js";
import { connectNats } from "../src/nats/connect.js";
import { parseCredsText } from "../src/nats/nkeys.js";
import type { NexNode } from "../src/node/node.js";
import { REPO_ROOT, TestEnv, check, collect, spawnCli } from "../src/testkit/index.js";
import { LogCollector } from "./helpers/native.js";

const JS = (f: string): string => join(REPO_ROOT, "examples", "js", f);

async function failure(p: Promise<unknown>): Promise<NexError> {
  const err = await p.then(
    () => assert.fail("expected a failure"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof NexError, String(err));
  return err;
}

void describe("tenancy", () => {
  let env: TestEnv;
  let node: NexNode;
  let a: NexClient;
  let b: NexClient;
  let ncA: NatsConnection;
  let ncB: NatsConnection;

  before(async () => {
    env = await TestEnv.start({ namespaces: ["a", "b"] });
    // File artifacts only from the test's own directory and the repository's examples and fixtures.
    node = await env.node({ sandbox: false, allowFileDirs: [env.dir, join(REPO_ROOT, "examples"), join(REPO_ROOT, "test", "fixtures")] });
    [a, b, ncA, ncB] = await Promise.all([env.client("a"), env.client("b"), env.nc("a"), env.nc("b")]);
  });
  after(() => env.stop());

  const devrun = (ns: string, file: string, extra: string[]): Promise<ReturnType<typeof collect> extends Promise<infer R> ? R : never> =>
    env.cli(["-n", ns, "devrun", file, ...extra]);

  void test("tenancy - two namespaces run the talk's telemetry.js and jokes.js side by side, each with its own data", async () => {
    for (const [ns, nc] of [["a", ncA], ["b", ncB]] as const) {
      const kv = await new Kvm(nc).create("dad_jokes");
      await kv.put("jokes", JSON.stringify([{ setup: `only in ${ns}`, punchline: ns }]));
      for (const [f, subject] of [["jokes.js", "joke"], ["telemetry.js", "iot.reading"]] as const) {
        const r = await devrun(ns, JS(f), ["--trigger_subject", subject]);
        assert.equal(r.code, 0, r.stderr);
      }
    }
    for (const [ns, client] of [["a", a], ["b", b]] as const) {
      const joke = (await client.invoke("joke", "")).json<{ joke: string; punchline: string }>();
      assert.deepEqual(joke, { joke: `only in ${ns}`, punchline: ns }, "each namespace's jokes.js reads its own dad_jokes bucket");
      const t = (await client.invoke("iot.reading", JSON.stringify({ deviceId: `dev-${ns}`, temperature: 21 }))).json<{ ok: boolean }>();
      assert.equal(t.ok, true);
    }
    const iotA = await new Kvm(ncA).open("iot_devices");
    const iotB = await new Kvm(ncB).open("iot_devices");
    assert.ok(await iotA.get("dev-a"));
    assert.equal(await iotA.get("dev-b"), null, "a's iot_devices is not b's");
    assert.ok(await iotB.get("dev-b"));
    // Same subject, same name, two namespaces: each request reaches its own namespace's function.
    const listA = await a.list();
    const listB = await b.list();
    assert.deepEqual(listA.map((w) => w.name).sort(), ["jokes", "telemetry"]);
    assert.deepEqual(listB.map((w) => w.name).sort(), ["jokes", "telemetry"]);
    assert.ok(!listA.some((w) => listB.some((x) => x.id === w.id)));
  });

  void test("tenancy - a function cannot write the control plane's desired state or read anyone's specs", async () => {
    const r = await env.deployJs(a, "statewriter", `() => {
      const out = [];
      for (const f of [() => kv("NEX_STATE").set("x.y", JSON.stringify({ type: "native", location: "file:///bin/sh" })), () => kv("NEX_STATE").keys()]) {
        try { out.push("allowed " + JSON.stringify(f())); } catch (e) { out.push(e.name + ": " + e.message); }
      }
      return out;
    }`, ["statewriter"]);
    assert.ok(r.id);
    const out = (await a.invoke("statewriter", "")).json<string[]>();
    for (const line of out) assert.match(line, /^HostServiceError: kv: bucket "NEX_STATE" is reserved/);
    // And the tenant itself, with its own credentials, has no such bucket: the control plane is another account.
    const jsm = await jetstreamManager(ncA);
    await assert.rejects(jsm.streams.info(`KV_${STATE_BUCKET}`), /stream not found/i);
    const admin = await jetstreamManager(await env.adminNc());
    assert.ok((await admin.streams.info(`KV_${STATE_BUCKET}`)).config.name, "the state lives in the control plane's account");
  });

  void test("tenancy - a function cannot overwrite another namespace's artifact; b's code keeps running", async () => {
    const r = await devrun("b", JS("echo.js"), ["--name", "victim", "--trigger_subject", "victim"]);
    assert.equal(r.code, 0, r.stderr);
    await env.deployJs(a, "overwriter", `() => {
      try { objectStore("NEX_ARTIFACTS").put("victim/echo.js", "() => 'pwned'"); return "allowed"; } catch (e) { return e.message; }
    }`, ["overwriter"]);
    assert.match((await a.invoke("overwriter", "")).string(), /bucket "NEX_ARTIFACTS" is reserved/);
    assert.equal((await b.invoke("victim", "hi")).string(), '{"triggered_on":"victim","payload":"hi"}');
  });

  void test("tenancy - namespace a can reach neither b's buckets nor b's functions nor b's requests", async () => {
    await env.deployJs(b, "secret", `() => "b's secret"`, ["secret.ask"]);
    // a's request on the same subject has nobody to answer in a's account.
    const e = await failure(a.invoke("secret.ask", "", { timeoutMs: 1_000 }));
    assert.equal(e.code, "NEX_E_NO_NODES");
    // a deploys a trigger on b's subject space: it lives in a's account and never sees b's traffic.
    await env.deployJs(a, "sniffer", `(s) => { kv("sniffed").set("last", s); return "a sniffer"; }`, ["b.>", "secret.ask"]);
    assert.equal((await b.invoke("secret.ask", "")).string(), "b's secret", "b's request is answered by b's function");
    ncB.publish("b.private", "b's data");
    await ncB.flush();
    await new Promise((r) => setTimeout(r, 300));
    const sniffed = await new Kvm(ncA).create("sniffed");
    assert.equal(await sniffed.get("last"), null, "a's function received nothing of b's");
  });

  void test("tenancy - a namespace cannot stop another's workloads, nor lameduck a node", async () => {
    const victim = (await b.list({ name: "secret" }))[0]!;
    // a's own control subject: the workload is not in a's namespace.
    const notHere = await failure(a.request("STOP", node.id, { id: victim.id }));
    assert.equal(notHere.code, "NEX_E_NOT_FOUND");
    // b's control subject from a's account: the server has no route for it.
    await assert.rejects(ncA.request(`$NEX.SVC.b.control.STOP.${node.id}`, JSON.stringify({ id: victim.id }), { timeout: 1_000 }), /no responders/);
    const lame = await failure(a.lameduck(node.id, 1_000));
    assert.equal(lame.code, "NEX_E_FORBIDDEN");
    assert.equal((await b.list({ name: "secret" })).length, 1, "b's workload is still there");
    assert.equal((await a.ping())[0]?.state, "running");
  });

  void test("tenancy - a tenant's own Nats-Request-Info header passes it off neither as the control plane nor as another namespace", async () => {
    const accountOf = (file: string): string => {
      const c = claimsOf(parseCredsText(readFileSync(file, "utf8")).jwt);
      return c.nats?.issuer_account ?? c.iss;
    };
    const ask = async (verb: "LAMEDUCK" | "STOP", body: object, acc: string): Promise<NexError | undefined> => {
      const h = natsHeaders();
      h.set("Nats-Request-Info", JSON.stringify({ acc }));
      const m = await ncA.request(subjects.control("a", verb, node.id), JSON.stringify(body), { timeout: 5_000, headers: h });
      return errorFromReply(m);
    };
    // The server replaces the header on the way through the import; the node reads the account the server vouches for.
    assert.equal((await ask("LAMEDUCK", {}, accountOf(env.connection.credsFile!)))?.code, "NEX_E_FORBIDDEN");
    const victim = (await b.list({ name: "secret" }))[0]!;
    assert.equal((await ask("STOP", { id: victim.id }, accountOf(env.tenant("b").credsFile!)))?.code, "NEX_E_NOT_FOUND");
    assert.equal((await b.list({ name: "secret" })).length, 1, "b's workload is still there");
    assert.equal((await a.ping())[0]?.state, "running");
  });

  void test("tenancy - anonymous clients get nothing, and file:// is refused outside allowed directories, without content", async () => {
    await assert.rejects(connectNats({ servers: [env.server.url] }, "anon"), /Authorization Violation/);
    const outside = mkdtempSync(join(tmpdir(), "nex-secret-"));
    chmodSync(outside, 0o755);
    const secret = "SNAFAKESECRETSEEDVALUETHATMUSTNOTLEAK\n";
    const seed = join(outside, "node.seed");
    writeFileSync(seed, secret, { mode: 0o644 });
    try {
      for (const [type, location] of [["v8", pathToFileURL(seed).href], ["native", "file:///etc/shadow"], ["native", "file:///bin/sh"]] as const) {
        const req = { name: `steal-${type}`, type, location, triggers: type === "v8" ? ["x"] : undefined, lifecycle: type === "v8" ? undefined : ("job" as const) };
        const e = await failure(a.deploy(req, { node: node.id }));
        assert.equal(e.code, "NEX_E_FORBIDDEN", location);
        assert.doesNotMatch(e.message, /FAKESECRET|root:/);
      }
      // Inside an allowed directory, a file that is not a function is refused without quoting a byte of it.
      const inside = env.file("leak.seed", secret);
      const bad = await failure(a.deploy({ name: "steal-in", type: "v8", location: inside, triggers: ["x"] }, { node: node.id }));
      assert.equal(bad.code, "NEX_E_BAD_ARTIFACT");
      assert.doesNotMatch(bad.message, /FAKESECRET/);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
    const cache = join(node.opts.dataDir, "artifacts");
    const files = existsSync(cache) ? readdirSync(cache, { recursive: true, withFileTypes: true }).filter((f) => f.isFile()) : [];
    for (const f of files) {
      const p = join(f.parentPath, f.name);
      assert.equal(statSync(p).mode & 0o077, 0, `${p} is private to the node`);
      assert.doesNotMatch(readFileSync(p, "latin1"), /root:/, "no copy of /etc/shadow");
    }
  });

  void test("tenancy - a native service's own credentials cannot deploy, lameduck, snoop the control API or forge logs", async () => {
    const logs = new LogCollector(ncA, "a", "attacker");
    const forged = new LogCollector(ncA, "a", "victim");
    try {
      await a.deploy(
        {
          name: "attacker",
          type: "native",
          location: pathToFileURL(join(REPO_ROOT, "test", "fixtures", "native", "attacker.cjs")).href,
          env: { NODE_PATH: join(REPO_ROOT, "node_modules"), TARGET_NODE: node.id },
        },
        { node: node.id },
      );
      await logs.waitFor(/^attacks done$/, 20_000);
      const out = logs.text();
      assert.match(out, /deploy: refused .*Permissions Violation for Publish to "\$NEX\.SVC\.default\.control\.DEPLOY/);
      assert.match(out, /lameduck: refused .*Permissions Violation/);
      assert.match(out, /snoop control: Permissions Violation for Subscription to "\$NEX\.SVC\.>"/);
      assert.match(out, /async errors: .*Permissions Violation for Publish to "\$NEX\.FEED\.default\.logs/);
      assert.equal(forged.text(), "", "no forged log line");
      assert.equal((await env.adminClient("default")).namespace, "default");
      assert.deepEqual((await (await env.client("default")).list({ name: "pwn" })).length, 0, "nothing was deployed");
    } finally {
      logs.close();
      forged.close();
      await a.stop("attacker").catch(() => undefined);
    }
  });

  void test("tenancy - nex ns create adds a namespace to a running node; ns creds work with plain NATS clients; ns delete removes it", async () => {
    const created = await env.cli(["ns", "create", "c", "--max-storage", "64M", "--max-streams", "4"]);
    assert.equal(created.code, 0, created.stderr);
    const ls = await env.cli(["ns", "ls", "--json"]);
    assert.deepEqual((JSON.parse(ls.stdout) as { name: string }[]).map((n) => n.name), ["a", "b", "c", "default"]);
    const dev = await devrun("c", JS("echo.js"), ["--trigger_subject", "echo"]);
    assert.equal(dev.code, 0, dev.stderr);
    const credsFile = join(env.dir, "c.creds");
    assert.equal((await env.cli(["ns", "creds", "c", "--out", credsFile])).code, 0);
    assert.equal(statSync(credsFile).mode & 0o777, 0o600);
    const plain = await connectNats({ servers: [env.server.url], credsFile }, "plain");
    try {
      assert.equal((await plain.request("echo", "from c")).string(), '{"triggered_on":"echo","payload":"from c"}');
      // The namespace's JetStream limits hold: a fifth stream is refused by the server.
      const kvm = new Kvm(plain);
      const made: string[] = [];
      await assert.rejects(async () => {
        for (let i = 0; i < 6; i++) {
          await kvm.create(`b${i}`);
          made.push(`b${i}`);
        }
      }, /maximum number of streams reached|insufficient/);
      assert.ok(made.length < 4, `${made.length} buckets fit next to the namespace's artifacts and feed`);
    } finally {
      await plain.close();
    }
    const del = await env.cli(["ns", "delete", "c"]);
    assert.equal(del.code, 0, del.stderr);
    await check(async () => (await a.list()).length >= 0 && !(await env.cli(["-n", "c", "ls"])).stderr.includes("echo"));
    const gone = await collect(spawnCli(["-n", "c", "ls"], env.cliEnv), 20_000);
    assert.match(gone.stderr, /NEX_E_NO_NAMESPACE/);
  });
});
