import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/nats-core";
import type { NexClient } from "../src/client/index.js";
import { REPO_ROOT, TestEnv, check } from "../src/testkit/index.js";

const FIXTURES = join(REPO_ROOT, "test", "fixtures", "wasm");
const EXAMPLES = join(REPO_ROOT, "examples", "wasm");

void describe("wasm host services", () => {
  let env: TestEnv;
  let client: NexClient;
  let nc: NatsConnection;
  let http: Server;
  let httpUrl: string;

  /** Runs one probe command; returns the status line and the result. */
  async function probe(...fields: string[]): Promise<{ status: string; result: string }> {
    const text = (await client.invoke("wasm.probe", fields.join("\n"), { timeoutMs: 15_000 })).string();
    const nl = text.indexOf("\n");
    return { status: text.slice(0, nl), result: text.slice(nl + 1) };
  }

  before(async () => {
    env = await TestEnv.start();
    // The local test servers listen on loopback, which functions may reach only when the node allows it.
    await env.node({ allowEgress: ["127.0.0.1"] });
    client = await env.client();
    nc = await env.nc();
    const { location, sha256 } = await client.uploadArtifact("probe.wasm", readFileSync(join(FIXTURES, "hostcalls.wasm")));
    await client.deploy({ name: "probe", type: "wasm", location, sha256, triggers: ["wasm.probe"], timeoutMs: 15_000 });
    http = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        res.writeHead(req.url === "/missing" ? 404 : 200, { "content-type": "text/plain" });
        res.end(`${req.method} ${req.url} x-test=${req.headers["x-test"] ?? ""} body=${body}`);
      });
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    httpUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  after(async () => {
    http.close();
    await env.stop();
  });

  void test("wasm host - kv set and get round-trip, and the value is really in the bucket", async () => {
    assert.deepEqual(await probe("kv_set", "wasm_kv", "dev1", "23 degrees"), { status: "0", result: "" });
    assert.deepEqual(await probe("kv_get", "wasm_kv", "dev1"), { status: "10", result: "23 degrees" });
    const kv = await new Kvm(jetstream(nc)).open("wasm_kv");
    assert.equal((await kv.get("dev1"))?.string(), "23 degrees");
  });

  void test("wasm host - kv get of a missing key returns NOT_FOUND with a message", async () => {
    const r = await probe("kv_get", "wasm_kv", "nope");
    assert.equal(r.status, "-1");
    assert.match(r.result, /not found/);
  });

  void test("wasm host - a bad bucket name returns INVALID with the host's message", async () => {
    const r = await probe("kv_get", "bad bucket!", "k");
    assert.equal(r.status, "-2");
    assert.match(r.result, /invalid bucket name/);
  });

  void test("wasm host - kv delete removes a key, and kv keys lists and filters", async () => {
    await probe("kv_set", "wasm_keys", "a.1", "x");
    await probe("kv_set", "wasm_keys", "a.2", "y");
    await probe("kv_set", "wasm_keys", "b.1", "z");
    assert.deepEqual(await probe("kv_keys", "wasm_keys", ""), { status: String("a.1\na.2\nb.1".length), result: "a.1\na.2\nb.1" });
    assert.deepEqual(await probe("kv_keys", "wasm_keys", "a.>"), { status: "7", result: "a.1\na.2" });
    assert.deepEqual(await probe("kv_delete", "wasm_keys", "a.1"), { status: "0", result: "" });
    assert.equal((await probe("kv_get", "wasm_keys", "a.1")).status, "-1");
    assert.equal((await probe("kv_keys", "wasm_keys", "")).result, "a.2\nb.1");
  });

  void test("wasm host - object put and get round-trip; a missing object is NOT_FOUND", async () => {
    assert.deepEqual(await probe("obj_put", "wasm_obj", "report.txt", "line one; line two"), { status: "0", result: "" });
    const os = await new Objm(jetstream(nc)).open("wasm_obj");
    assert.equal(new TextDecoder().decode((await os.getBlob("report.txt")) ?? undefined), "line one; line two");
    assert.deepEqual(await probe("obj_get", "wasm_obj", "report.txt"), { status: "18", result: "line one; line two" });
    assert.equal((await probe("obj_get", "wasm_obj", "missing.txt")).status, "-1");
  });

  void test("wasm host - publish delivers a message; a reserved subject is DENIED", async () => {
    const got: string[] = [];
    const sub = nc.subscribe("wasm.published", { callback: (_e, m) => void got.push(m.string()) });
    await nc.flush();
    assert.deepEqual(await probe("publish", "wasm.published", "ping from wasm"), { status: "0", result: "" });
    await check(() => got.includes("ping from wasm"));
    sub.unsubscribe();
    const r = await probe("publish", "$SYS.hack", "x");
    assert.equal(r.status, "-6");
    assert.match(r.result, /reserved/);
  });

  void test("wasm host - request returns the reply; no responders and timeouts have their own codes", async () => {
    const sub = nc.subscribe("wasm.svc", { callback: (_e, m) => void m.respond(`svc got ${m.string()}`) });
    const silent = nc.subscribe("wasm.silent", { callback: () => undefined });
    await nc.flush();
    assert.deepEqual(await probe("request", "wasm.svc", "hi", "2000"), { status: "10", result: "svc got hi" });
    const none = await probe("request", "wasm.nobody", "hi", "2000");
    assert.equal(none.status, "-3");
    assert.match(none.result, /no responders/i);
    const slow = await probe("request", "wasm.silent", "hi", "200");
    assert.equal(slow.status, "-4", slow.result);
    sub.unsubscribe();
    silent.unsubscribe();
  });

  void test("wasm host - http sends method, headers and body, and returns status and body", async () => {
    const get = await probe("http", "GET", `${httpUrl}/hello`, "X-Test: yes", "");
    assert.equal(get.status, `${`GET /hello x-test=yes body=`.length} 200`);
    assert.equal(get.result, "GET /hello x-test=yes body=");
    const post = await probe("http", "POST", `${httpUrl}/missing`, "", "payload!");
    assert.equal(post.status.split(" ")[1], "404");
    assert.equal(post.result, "POST /missing x-test= body=payload!");
  });

  void test("wasm host - http errors: bad method and bad URL are INVALID, a refused connection is FAILED", async () => {
    assert.equal((await probe("http", "BREW", httpUrl, "", "")).status, "-2 0");
    assert.equal((await probe("http", "GET", "ftp://example.com/x", "", "")).status, "-2 0");
    const refused = await probe("http", "GET", "http://127.0.0.1:1/", "", "");
    assert.equal(refused.status, "-5 0");
    assert.match(refused.result, /GET http:\/\/127\.0\.0\.1:1\/ failed/);
  });

  void test("wasm host - http to a loopback address the node did not allow is DENIED", async () => {
    const port = new URL(httpUrl).port;
    for (const url of [`http://127.0.0.2:${port}/x`, `http://localhost:${port}/x`, `http://[::ffff:7f00:2]:${port}/x`]) {
      const r = await probe("http", "GET", url, "", "");
      assert.equal(r.status, "-6 0", url);
      assert.match(r.result, /refused/, url);
    }
  });

  void test("wasm host - a pointer outside the module's memory is INVALID, not a crash", async () => {
    const r = await probe("bad_pointer");
    assert.equal(r.status, "-2");
    assert.match(r.result, /outside the module's memory/);
  });

  void test("wasm host - the Rust and C KV examples count visits in a bucket", async () => {
    for (const [name, file] of [["kvrust", join(EXAMPLES, "kv", "kv.wasm")], ["kvc", join(EXAMPLES, "kv-c", "kv-c.wasm")]] as const) {
      const { location, sha256 } = await client.uploadArtifact(`${name}.wasm`, readFileSync(file));
      await client.deploy({ name, type: "wasm", location, sha256, triggers: [`wasm.${name}`], env: { NEX_KV_BUCKET: `visits_${name}` } });
      assert.equal((await client.invoke(`wasm.${name}`, "ada")).string(), "hello ada, visit #1");
      assert.equal((await client.invoke(`wasm.${name}`, "ada")).string(), "hello ada, visit #2");
      const kv = await new Kvm(jetstream(nc)).open(`visits_${name}`);
      assert.equal((await kv.get("ada"))?.string(), "2");
    }
  });
});
