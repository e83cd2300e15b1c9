import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { headers as natsHeaders } from "@nats-io/nats-core";
import type { NexClient } from "../src/client/index.js";
import { NexError } from "../src/contract/index.js";
import { NatsHostServices } from "../src/hostservices/nats.js";
import { REPO_ROOT, TestEnv, check } from "../src/testkit/index.js";
import { closedPortUrl, startHttp, type TestHttp } from "./fixtures/js/http.js";

const example = (name: string): string => readFileSync(join(REPO_ROOT, "examples", "js", name), "utf8");

async function invokeError(client: NexClient, subject: string, payload = ""): Promise<NexError> {
  try {
    await client.invoke(subject, payload, { timeoutMs: 15_000 });
  } catch (err) {
    if (err instanceof NexError) return err;
    throw err;
  }
  throw new Error(`${subject} did not fail`);
}

void describe("v8 host services", () => {
  let env: TestEnv;
  let client: NexClient;
  let hs: NatsHostServices;
  let web: TestHttp;

  before(async () => {
    env = await TestEnv.start();
    // The local test servers listen on loopback, which functions may reach only when the node allows it.
    await env.node({ allowEgress: ["127.0.0.1"] });
    client = await env.client();
    hs = new NatsHostServices(await env.nc(), { autoCreateBuckets: true });
    web = await startHttp();
  });
  after(async () => {
    await web.close();
    await env.stop();
  });

  void test("v8 host services - the talk's telemetry.js runs unchanged: KV entry, stored object and webhook call", async () => {
    const src = example("telemetry.js");
    const local = src.replace("https://webhooks.app/data", `${web.url}/data`);
    assert.notEqual(local, src, "the webhook URL was rewritten");
    assert.equal(local.replace(`${web.url}/data`, "https://webhooks.app/data"), src, "nothing else changed");
    await env.deployJs(client, "telemetry", local, ["iot.telemetry"]);

    const hot = JSON.stringify({ deviceId: "dev-42", temperature: 35.5 });
    const r1 = (await client.invoke("iot.telemetry", hot, { timeoutMs: 15_000 })).json<Record<string, unknown>>();
    assert.deepEqual(r1, {
      ok: true, subject: "iot.telemetry", device: "dev-42", temperature: 35.5, kv_bucket: "iot_devices",
      object_bucket: "iot_history", http_alert: { status: 200, length: "received".length },
    });
    const stored = await hs.kvGet("iot_devices", "dev-42");
    assert.equal(new TextDecoder().decode(stored!), hot, "the KV entry holds the raw payload");
    const objects = (await hs.objList("iot_history")).filter((o) => o.name.startsWith("dev-42-") && o.name.endsWith(".json"));
    assert.equal(objects.length, 1);
    assert.equal(new TextDecoder().decode((await hs.objGet("iot_history", objects[0]!.name))!), hot);
    const calls = web.received.filter((c) => c.path === "/data");
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.method, "POST");
    assert.deepEqual({ ...JSON.parse(calls[0]!.body), ts: 0 }, { deviceId: "dev-42", temperature: 35.5, ts: 0, subject: "iot.telemetry" });

    const cool = JSON.stringify({ deviceId: "dev-42", temperature: 21 });
    const r2 = (await client.invoke("iot.telemetry", cool)).json<Record<string, unknown>>();
    assert.equal(r2["http_alert"], null, "no alert at or below 30 °C");
    assert.equal(web.received.filter((c) => c.path === "/data").length, 1, "the webhook was not called again");
    assert.equal(new TextDecoder().decode((await hs.kvGet("iot_devices", "dev-42"))!), cool, "the KV entry is the latest reading");
    await check(async () => (await hs.objList("iot_history")).filter((o) => o.name.startsWith("dev-42-")).length === 2);
  });

  void test("v8 host services - the talk's jokes.js runs unchanged and returns a seeded joke", async () => {
    const jokes = readFileSync(join(REPO_ROOT, "examples", "js", "jokes.json"));
    await hs.kvSet("dad_jokes", "jokes", new Uint8Array(jokes));
    await env.deployJs(client, "jokes", example("jokes.js"), ["jokes"]);
    const all = JSON.parse(jokes.toString()) as { setup: string; punchline: string }[];
    for (let i = 0; i < 5; i++) {
      const r = (await client.invoke("jokes", "")).json<{ joke: string; punchline: string }>();
      assert.ok(all.some((j) => j.setup === r.joke && j.punchline === r.punchline), JSON.stringify(r));
    }
  });

  void test("v8 host services - every kv and objectStore method, with missing keys and objects as null", async () => {
    await env.deployJs(client, "stores", `(subject, payload) => {
      const b = kv("hs_kv");
      const rev = b.set("a", "one");
      b.put("b", new Uint8Array([1, 2, 3]));
      b.set("c.x", "cx");
      const got = { a: new TextDecoder().decode(b.get("a")), b: Array.from(b.get("b")), missing: b.get("nope") };
      const keys = b.keys(), filtered = b.keys("c.*");
      b.delete("a");
      const afterDelete = b.get("a");
      const os = this.objectStore("hs_obj");
      const info = os.put("doc.txt", "hello object");
      os.put("bin", new Uint8Array([9, 8, 7]));
      const text = new TextDecoder().decode(os.get("doc.txt"));
      const missingObj = os.get("nothing-here");
      const names = os.list().map((o) => o.name).sort();
      const deleted = os.delete("bin"), deletedAgain = os.delete("bin");
      return { rev: typeof rev, got, keys, filtered, afterDelete, info: { name: info.name, size: info.size, bucket: info.bucket },
               text, missingObj, names, deleted, deletedAgain, left: os.list().map((o) => o.name) };
    }`, ["stores"]);
    const r = (await client.invoke("stores", "", { timeoutMs: 15_000 })).json<Record<string, unknown>>();
    assert.deepEqual(r, {
      rev: "number", got: { a: "one", b: [1, 2, 3], missing: null }, keys: ["a", "b", "c.x"], filtered: ["c.x"], afterDelete: null,
      info: { name: "doc.txt", size: 12, bucket: "hs_obj" }, text: "hello object", missingObj: null, names: ["bin", "doc.txt"],
      deleted: true, deletedAgain: false, left: ["doc.txt"],
    });
  });

  void test("v8 host services - messaging publish, request and requestMany", async () => {
    const nc = await env.nc();
    const seen: string[] = [];
    nc.subscribe("hs.audit", { callback: (_e, m) => void seen.push(m.string()) });
    nc.subscribe("hs.upper", { callback: (_e, m) => void m.respond(m.string().toUpperCase()) });
    for (const n of [1, 2, 3]) nc.subscribe("hs.many", { callback: (_e, m) => void m.respond(`r${n}:${m.string()}`) });
    await nc.flush();
    await env.deployJs(client, "msg", `async (subject, payload) => {
      messaging.publish("hs.audit", payload);
      const up = new TextDecoder().decode(await messaging.request("hs.upper", "shout", { timeoutMs: 2000 }));
      const many = messaging.requestMany("hs.many", "q", { maxWaitMs: 300 }).map((b) => new TextDecoder().decode(b)).sort();
      const two = messaging.requestMany("hs.many", "q", { maxWaitMs: 2000, maxMessages: 2 }).length;
      let err = null;
      try { messaging.request("hs.nobody", "x", { timeoutMs: 300 }); } catch (e) { err = e.name + ": " + e.message; }
      let reserved = null;
      try { messaging.publish("$JS.API.STREAM.DELETE.x", ""); } catch (e) { reserved = e.message; }
      return { up, many, two, err, reserved };
    }`, ["msg"]);
    const r = (await client.invoke("msg", "audit-me", { timeoutMs: 15_000 })).json<Record<string, unknown>>();
    assert.equal(r["up"], "SHOUT");
    assert.deepEqual(r["many"], ["r1:q", "r2:q", "r3:q"]);
    assert.equal(r["two"], 2);
    assert.match(String(r["err"]), /^HostServiceError: messaging: request to hs\.nobody failed/);
    assert.match(String(r["reserved"]), /reserved/);
    await check(() => seen.includes("audit-me"));
  });

  void test("v8 host services - http methods, request headers, status codes and fetch against a local server", async () => {
    await env.deployJs(client, "web", `async (subject, payload) => {
      const base = new TextDecoder().decode(payload);
      const post = http.post(base + "/echo/p", "body-text", { headers: { "X-Custom": "1" } });
      const get = http.get(base + "/echo/g?x=1", { headers: { Accept: "text/plain" } });
      const methods = ["put", "patch", "delete"].map((m) => JSON.parse(http[m](base + "/echo/m", "b").response).method);
      const head = http.head(base + "/echo/h");
      const notFound = http.get(base + "/status/404");
      const f = await fetch(base + "/echo/f", { method: "POST", body: JSON.stringify({ a: 1 }), headers: { "content-type": "application/json" } });
      const fj = await f.json();
      const bin = new Uint8Array(await (await fetch(base + "/bin")).arrayBuffer());
      const form = await (await fetch(new URL("/echo/form", base), { method: "POST", body: new URLSearchParams({ q: "a b" }) })).json();
      return { post: JSON.parse(post.response), postStatus: post.status, ctype: post.headers["content-type"], getHdr: JSON.parse(get.response).headers.accept,
               methods, head: [head.status, head.response, head.headers["x-test"]], notFound: [notFound.status, notFound.response],
               fetch: [f.status, f.ok, f.headers.get("X-Test"), fj.method, fj.body], bin: Array.from(bin), form: [form.body, form.headers["content-type"]] };
    }`, ["web"]);
    const r = (await client.invoke("web", web.url, { timeoutMs: 15_000 })).json<Record<string, unknown>>();
    const post = r["post"] as { method: string; body: string; headers: Record<string, string> };
    assert.equal(post.method, "POST");
    assert.equal(post.body, "body-text");
    assert.equal(post.headers["x-custom"], "1");
    assert.equal(r["postStatus"], 200);
    assert.equal(r["ctype"], "application/json");
    assert.equal(r["getHdr"], "text/plain");
    assert.deepEqual(r["methods"], ["PUT", "PATCH", "DELETE"]);
    assert.deepEqual(r["head"], [200, "", "yes"]);
    assert.deepEqual(r["notFound"], [404, "status 404"]);
    assert.deepEqual(r["fetch"], [200, true, "yes", "POST", '{"a":1}']);
    assert.deepEqual(r["bin"], [0, 1, 2, 254, 255], "fetch keeps binary bodies intact");
    assert.deepEqual(r["form"], ["q=a+b", "application/x-www-form-urlencoded;charset=UTF-8"]);
  });

  void test("v8 host services - host calls are bounded: a hanging server times out, a closed port is refused", async () => {
    const refused = await closedPortUrl();
    await env.deployJs(client, "bounded", `async (subject, payload) => {
      const [hang, closed] = JSON.parse(new TextDecoder().decode(payload));
      const out = {};
      let t = Date.now();
      try { http.get(hang, { timeoutMs: 300 }); } catch (e) { out.hang = [e.name, e.message, Date.now() - t]; }
      try { await fetch(hang, { timeoutMs: 300 }); } catch (e) { out.fetchHang = [e.name, e.message]; }
      try { http.post(closed, "x"); } catch (e) { out.closed = [e.name, e.message]; }
      try { await fetch(closed); } catch (e) { out.fetchClosed = e.name; }
      return out;
    }`, ["bounded"], { timeoutMs: 5_000 });
    const r = (await client.invoke("bounded", JSON.stringify([`${web.url}/hang`, refused]), { timeoutMs: 15_000 })).json<Record<string, unknown[]>>();
    const hang = r["hang"]!;
    assert.equal(hang[0], "HostServiceError");
    assert.match(String(hang[1]), /^http: GET http:\/\/127\.0\.0\.1:\d+\/hang failed: timed out after 300 ms/);
    assert.ok(Number(hang[2]) >= 290 && Number(hang[2]) < 3_000, `took ${String(hang[2])} ms`);
    assert.equal(r["fetchHang"]![0], "TypeError", "fetch rejects with a TypeError, as in browsers");
    assert.match(String(r["fetchHang"]![1]), /timed out after 300 ms/);
    assert.equal(r["closed"]![0], "HostServiceError");
    assert.match(String(r["closed"]![1]), /ECONNREFUSED/);
    assert.equal(r["fetchClosed"], "TypeError");
  });

  void test("v8 host services - http and fetch to a loopback address or name the node did not allow are refused", async () => {
    const port = new URL(web.url).port;
    await env.deployJs(client, "egress", `async (subject, payload) => {
      const port = new TextDecoder().decode(payload);
      const out = {};
      for (const url of ["http://127.0.0.2:" + port + "/e1", "http://localhost:" + port + "/e2", "http://[::1]:" + port + "/e3", "http://169.254.169.254/"]) {
        try { http.get(url); out[url] = "sent"; } catch (e) { out[url] = [e.name, e.message]; }
      }
      try { await fetch("http://0x7f000002:" + port + "/e4"); out.fetch = "sent"; } catch (e) { out.fetch = [e.name, e.message]; }
      return out;
    }`, ["egress"]);
    const r = (await client.invoke("egress", port, { timeoutMs: 15_000 })).json<Record<string, [string, string]>>();
    for (const [url, [name, message]] of Object.entries(r)) {
      assert.equal(url === "fetch" ? "TypeError" : "HostServiceError", name, url);
      assert.match(message, /refused: .* is a (loopback|link-local) address|refused: "localhost" is a local host name/, url);
    }
    assert.equal(web.received.filter((c) => /^\/e\d/.test(c.path)).length, 0, "no request reached the server");
  });

  void test("v8 host services - an uncaught host service error reaches the caller as NEX_E_HOST_SERVICE", async () => {
    await env.deployJs(client, "uncaught", `(s, p) => http.get(new TextDecoder().decode(p))`, ["uncaught"]);
    const err = await invokeError(client, "uncaught", await closedPortUrl());
    assert.equal(err.code, "NEX_E_HOST_SERVICE");
    assert.match(err.message, /ECONNREFUSED/);
  });

  void test("v8 host services - a function that loops on host calls is still stopped by its invocation timeout", async () => {
    await hs.kvSet("loop_kv", "k", new TextEncoder().encode("v"));
    await env.deployJs(client, "looper", `(subject, payload) => {
      if (payload.length === 0) return "alive";
      let n = 0;
      while (true) { kv("loop_kv").get("k"); n++; }
    }`, ["looper"], { timeoutMs: 400 });
    const t0 = Date.now();
    const err = await invokeError(client, "looper", "loop");
    const took = Date.now() - t0;
    assert.equal(err.code, "NEX_E_FUNCTION_TIMEOUT");
    assert.ok(took >= 380 && took < 2_500, `stopped after ${took} ms`);
    assert.equal((await client.invoke("looper", "")).string(), "alive", "the function answers again (its isolate was rebuilt)");
  });

  void test("v8 host services - async host calls overlap through the runner and NATS, at most maxConcurrency at once", async () => {
    // A real responder that holds requests until four wait at once (or half a second has passed), counting the most.
    const nc = await env.nc();
    let held: (() => void)[] = [];
    let most = 0;
    const sub = nc.subscribe("held.svc", {
      callback: (_err, msg) => {
        held.push(() => msg.respond(msg.data));
        most = Math.max(most, held.length);
        const go = (): void => {
          const now = held;
          held = [];
          for (const r of now) r();
        };
        if (held.length >= 4) go();
        else setTimeout(go, 500);
      },
    });
    await nc.flush();
    await hs.kvSet("async_kv", "k", new TextEncoder().encode("kv"));
    await env.deployJs(client, "overlapper", `async (s, p) => {
      const [r, v] = await Promise.all([messaging.async.request("held.svc", p, { timeoutMs: 5000 }), kv("async_kv").async.get("k")]);
      return new TextDecoder().decode(r) + "/" + new TextDecoder().decode(v);
    }`, ["overlapper"], { maxConcurrency: 4 });
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => client.invoke("overlapper", `m${i}`, { timeoutMs: 15_000 })));
    sub.unsubscribe();
    assert.deepEqual(replies.map((m) => m.string()), Array.from({ length: 12 }, (_, i) => `m${i}/kv`));
    assert.equal(most, 4, "four invocations waited on the responder at once, never more");
  });

  void test("v8 host services - the third ctx argument and reply headers set through ctx.setHeader", async () => {
    await env.deployJs(client, "ctxfn", `(subject, payload, ctx) => {
      ctx.setHeader("X-Handled-By", ctx.name);
      ctx.setHeader("X-Count", 2);
      return { subject: ctx.subject, name: ctx.name, namespace: ctx.namespace, reply: ctx.reply, input: ctx.header("X-In"), all: ctx.headers["X-In"] };
    }`, ["ctx.>"]);
    const nc = await env.nc();
    const h = natsHeaders();
    h.append("X-In", "first");
    h.append("X-In", "second");
    const m = await nc.request("ctx.a.b", "", { timeout: 10_000, headers: h });
    const r = m.json<Record<string, unknown>>();
    assert.equal(r["subject"], "ctx.a.b");
    assert.equal(r["name"], "ctxfn");
    assert.equal(r["namespace"], "default");
    assert.match(String(r["reply"]), /^_INBOX\./);
    assert.equal(r["input"], "first");
    assert.deepEqual(r["all"], ["first", "second"]);
    assert.equal(m.headers?.get("X-Handled-By"), "ctxfn");
    assert.equal(m.headers?.get("X-Count"), "2");
  });
});

void describe("v8 host services without bucket auto-creation", () => {
  let env: TestEnv;
  let client: NexClient;

  before(async () => {
    env = await TestEnv.start();
    await env.node({ autoCreateBuckets: false });
    client = await env.client();
  });
  after(async () => env.stop());

  void test("v8 host services - with autoCreateBuckets off a missing bucket is a clear error, and an existing one works", async () => {
    await env.deployJs(client, "nocreate", `(subject, payload) => {
      const out = {};
      try { kv("absent_kv").get("k"); } catch (e) { out.kv = [e.name, e.code, e.message]; }
      try { objectStore("absent_obj").list(); } catch (e) { out.obj = [e.name, e.message]; }
      out.existing = new TextDecoder().decode(kv("present_kv").get("k"));
      return out;
    }`, ["nocreate"]);
    await new NatsHostServices(await env.nc(), { autoCreateBuckets: true }).kvSet("present_kv", "k", new TextEncoder().encode("here"));
    const r = (await client.invoke("nocreate", "", { timeoutMs: 15_000 })).json<Record<string, unknown>>();
    assert.deepEqual((r["kv"] as string[]).slice(0, 2), ["HostServiceError", "NEX_E_HOST_SERVICE"]);
    assert.match((r["kv"] as string[])[2]!, /bucket "absent_kv" does not exist, and this node does not create buckets/);
    assert.match((r["obj"] as string[])[1]!, /bucket "absent_obj" does not exist, and this node does not create buckets/);
    assert.equal(r["existing"], "here");
    const jsm = await (await import("@nats-io/jetstream")).jetstreamManager(await env.nc());
    const names: string[] = [];
    for await (const s of jsm.streams.names()) names.push(s);
    assert.ok(!names.includes("KV_absent_kv") && !names.includes("OBJ_absent_obj"), `no bucket was created: ${names.join(",")}`);
  });
});
