import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NexError } from "../src/contract/index.js";
import { NatsHostServices } from "../src/hostservices/nats.js";
import { TestEnv } from "../src/testkit/index.js";

void describe("hostservices", () => {
  let env: TestEnv;
  let hs: NatsHostServices;

  before(async () => {
    env = await TestEnv.start();
    hs = new NatsHostServices(await env.nc(), { autoCreateBuckets: false });
  });
  after(async () => env.stop());

  void test("hostservices - nex kv put, get, ls and del, with values from arguments, @file and standard input", async () => {
    const file = join(env.dir, "jokes.json");
    writeFileSync(file, '[{"setup":"a","punchline":"b"}]');
    assert.equal((await env.cli(["kv", "put", "cli_kv", "jokes", `@${file}`])).code, 0);
    assert.equal((await env.cli(["kv", "put", "cli_kv", "plain", "hello"])).code, 0);
    assert.equal((await env.cli(["kv", "put", "cli_kv", "piped"], { input: "from stdin" })).code, 0);
    assert.equal(new TextDecoder().decode((await hs.kvGet("cli_kv", "jokes"))!), readFileSync(file, "utf8"));
    assert.equal((await env.cli(["kv", "get", "cli_kv", "plain"])).stdout, "hello\n");
    assert.equal((await env.cli(["kv", "get", "cli_kv", "piped", "--raw"])).stdout, "from stdin");
    assert.deepEqual((await env.cli(["kv", "ls", "cli_kv"])).stdout.trim().split("\n"), ["jokes", "piped", "plain"]);
    assert.equal((await env.cli(["kv", "del", "cli_kv", "plain"])).code, 0);
    const missing = await env.cli(["kv", "get", "cli_kv", "plain"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /NEX_E_NOT_FOUND: no key "plain" in KV bucket "cli_kv"/);
    const noBucket = await env.cli(["kv", "ls", "never_made"]);
    assert.equal(noBucket.code, 1);
    assert.match(noBucket.stderr, /bucket "never_made" does not exist/);
  });

  void test("hostservices - nex obj put, get, ls and del", async () => {
    const file = join(env.dir, "reading.json");
    writeFileSync(file, '{"t":21}');
    assert.equal((await env.cli(["obj", "put", "cli_obj", "r1.json", file])).code, 0);
    assert.equal((await env.cli(["obj", "put", "cli_obj", file])).code, 0, "a lone file is stored under its own name");
    assert.equal((await env.cli(["obj", "put", "cli_obj", "piped.txt"], { input: "piped" })).code, 0);
    const ls = await env.cli(["--json", "obj", "ls", "cli_obj"]);
    assert.deepEqual((JSON.parse(ls.stdout) as { name: string }[]).map((o) => o.name).sort(), ["piped.txt", "r1.json", "reading.json"]);
    assert.equal((await env.cli(["obj", "get", "--raw", "cli_obj", "r1.json"])).stdout, '{"t":21}');
    const out = join(env.dir, "out.txt");
    assert.equal((await env.cli(["obj", "get", "cli_obj", "piped.txt", out])).code, 0);
    assert.equal(readFileSync(out, "utf8"), "piped");
    assert.equal((await env.cli(["obj", "del", "cli_obj", "r1.json"])).code, 0);
    assert.equal(await hs.objGet("cli_obj", "r1.json"), null);
    const again = await env.cli(["obj", "del", "cli_obj", "r1.json"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /NEX_E_NOT_FOUND/);
  });

  void test("hostservices - calls are bounded by callTimeoutMs and fail with NEX_E_HOST_SERVICE", async () => {
    const nc = await env.nc();
    nc.subscribe("hs.silent", { callback: () => undefined });
    await nc.flush();
    const quick = new NatsHostServices(nc, { autoCreateBuckets: true, callTimeoutMs: 200 });
    const t0 = Date.now();
    await assert.rejects(quick.request("hs.silent", new Uint8Array(), 200), (err: NexError) => {
      assert.equal(err.code, "NEX_E_HOST_SERVICE");
      assert.match(err.message, /^messaging: request to hs\.silent failed/);
      return true;
    });
    assert.ok(Date.now() - t0 < 2_000);
    await assert.rejects(hs.kvGet("nowhere", "k"), /bucket "nowhere" does not exist, and this node does not create buckets/);
    await assert.rejects(hs.objList("nowhere_obj"), /bucket "nowhere_obj" does not exist/);
  });
});
