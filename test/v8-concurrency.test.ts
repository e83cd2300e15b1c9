import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { NexError, type WorkloadSpec } from "../src/contract/index.js";
import { MemoryHostServices } from "../src/hostservices/index.js";
import type { FunctionEngine, LoadedFunction } from "../src/runtimes/engine.js";
import { createV8Engine } from "../src/runtimes/v8/engine.js";
import { check } from "../src/testkit/index.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

function spec(name: string, over: Partial<WorkloadSpec> = {}): WorkloadSpec {
  return { id: `${name}-id`, name, namespace: "default", timeoutMs: 5_000, memoryLimitMiB: 64, maxConcurrency: 64, ...over } as WorkloadSpec;
}

/**
 * Host services whose KV gets and requests to `held.*` wait: until `releaseAt` of them wait at once (then all go), or
 * until `holdMs` has passed for each (so a test that fails to overlap fails on its assertion instead of hanging).
 * `most` is the largest number that ever waited at once.
 */
class HeldServices extends MemoryHostServices {
  waiting = 0;
  most = 0;
  private readonly gates: (() => void)[] = [];

  constructor(
    private readonly releaseAt: number,
    private readonly holdMs: number,
  ) {
    super({ responders: { "held.echo": (d) => this.hold().then(() => d), never: () => new Promise<Uint8Array>(() => undefined) } });
  }

  /** Lets every waiting call go now. */
  release(): void {
    for (const g of this.gates.splice(0)) g();
  }

  async hold(): Promise<void> {
    this.waiting++;
    this.most = Math.max(this.most, this.waiting);
    if (this.waiting >= this.releaseAt) this.release();
    else await new Promise<void>((resolve) => {
      this.gates.push(resolve);
      setTimeout(resolve, this.holdMs).unref();
    });
    this.waiting--;
  }

  override async kvGet(bucket: string, key: string): Promise<Uint8Array | null> {
    await this.hold();
    return super.kvGet(bucket, key);
  }
}

const invokeText = async (fn: LoadedFunction, payload = ""): Promise<string> => dec.decode((await fn.invoke({ subject: "t", payload: enc.encode(payload) })).body);
const failure = (p: Promise<unknown>): Promise<NexError> =>
  p.then(
    () => assert.fail("expected an error"),
    (e: unknown) => {
      assert.ok(e instanceof NexError, String(e));
      return e;
    },
  );

// The engine runs with in-memory host services: no nats-server is involved.
void describe("v8 concurrency", () => {
  let engine: FunctionEngine;

  before(async () => {
    engine = await createV8Engine({ nodeId: "n1", maxReplyBytes: 1_048_576, batchSize: 128 });
  });
  after(async () => {
    await engine.close();
  });

  // Counts the invocations inside the function at once, and answers the most it saw with what the call gave.
  const COUNTING = `let inside = 0, most = 0;
    const counted = async (work) => { inside++; most = Math.max(most, inside); try { return { got: await work(), most }; } finally { inside--; } };`;

  void test("v8 concurrency - an async KV-bound function with concurrency 50 runs its 50 invocations at once", async () => {
    const services = new HeldServices(50, 5_000);
    await services.kvSet("b", "k", enc.encode("v"));
    const fn = await engine.load(spec("overlap", { maxConcurrency: 50 }), enc.encode(`${COUNTING}
      (s, p) => counted(async () => new TextDecoder().decode(await kv("b").async.get("k")))`), { services, log: () => undefined });
    const replies = await Promise.all(Array.from({ length: 50 }, () => invokeText(fn)));
    // The host let the gets go only once all 50 waited at once: they overlapped, in the host and in the isolate.
    assert.equal(services.most, 50);
    const parsed = replies.map((r) => JSON.parse(r) as { got: string; most: number });
    assert.ok(parsed.every((r) => r.got === "v"));
    assert.equal(Math.max(...parsed.map((r) => r.most)), 50);
    fn.dispose();
  });

  void test("v8 concurrency - the synchronous style still blocks its isolate: its host calls never overlap", async () => {
    const services = new HeldServices(2, 50);
    await services.kvSet("b", "k", enc.encode("v"));
    const fn = await engine.load(spec("sync-style"), enc.encode(`(s, p) => this.kv("b").get("k")`), { services, log: () => undefined });
    const replies = await Promise.all(Array.from({ length: 8 }, () => invokeText(fn)));
    assert.deepEqual(replies, Array(8).fill("v"));
    assert.equal(services.most, 1, "one synchronous call at a time");
    fn.dispose();
  });

  void test("v8 concurrency - maxConcurrency bounds how many invocations run inside the isolate at once", async () => {
    const services = new HeldServices(Infinity, 150);
    const fn = await engine.load(spec("bounded", { maxConcurrency: 5 }), enc.encode(`${COUNTING}
      (s, p) => counted(() => messaging.async.request("held.echo", p).then((r) => new TextDecoder().decode(r)))`), { services, log: () => undefined });
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => invokeText(fn, `m${i}`)));
    const parsed = replies.map((r) => JSON.parse(r) as { got: string; most: number });
    assert.deepEqual(parsed.map((r) => r.got), Array.from({ length: 20 }, (_, i) => `m${i}`));
    assert.equal(services.most, 5, "five requests waited at once, never more");
    assert.equal(Math.max(...parsed.map((r) => r.most)), 5);
    fn.dispose();
  });

  void test("v8 concurrency - every host object has an async twin that answers like the synchronous one", async () => {
    const services = new MemoryHostServices({ responders: { "svc.up": (d) => dec.decode(d).toUpperCase() }, http: (req) => ({ status: 201, headers: { "x-m": req.method }, body: enc.encode(`${req.method} ${req.url}`) }) });
    const fn = await engine.load(spec("twins"), enc.encode(`async () => {
      const b = kv("twin"), o = objectStore("twin"), d = new TextDecoder();
      const rev = await b.async.set("k", "v1");
      const got = d.decode(await b.async.get("k"));
      const keys = await b.async.keys();
      const deleted = await b.async.delete("k");
      const missing = await b.async.get("k");
      const info = await o.async.put("n", "data");
      const obj = d.decode(await o.async.get("n"));
      const list = (await o.async.list()).map((i) => i.name);
      const removed = await o.async.delete("n");
      const published = await messaging.async.publish("audit.x", "p");
      const reply = d.decode(await messaging.async.request("svc.up", "ping"));
      const many = (await messaging.async.requestMany("svc.up", "a")).map((r) => d.decode(r));
      const web = await http.async.post("https://example.com/x", "body", { headers: { a: "1" } });
      const res = await fetch("https://example.com/f");
      let badArg, noBucket;
      try { await b.async.get(""); } catch (e) { badArg = e.name; }
      try { await messaging.async.request("svc.none", ""); } catch (e) { noBucket = [e.name, e.code]; }
      return { rev: typeof rev, got, keys, deleted: typeof deleted, missing, size: info.size, obj, list, removed, published: typeof published, reply, many,
        web: [web.status, web.headers["x-m"], web.response], fetched: [res.status, await res.text()], badArg, noBucket,
        frozen: [Object.isFrozen(b.async), Object.isFrozen(messaging.async), Object.isFrozen(http.async)] };
    }`), { services, log: () => undefined });
    assert.deepEqual(JSON.parse(await invokeText(fn)), {
      rev: "number", got: "v1", keys: ["k"], deleted: "undefined", missing: null, size: 4, obj: "data", list: ["n"], removed: true, published: "undefined",
      reply: "PING", many: ["A"], web: [201, "post", "post https://example.com/x"], fetched: [201, "get https://example.com/f"],
      badArg: "TypeError", noBucket: ["HostServiceError", "NEX_E_HOST_SERVICE"], frozen: [true, true, true],
    });
    assert.deepEqual(services.published.map((m) => m.subject), ["audit.x"]);
    fn.dispose();
  });

  void test("v8 concurrency - fetch no longer blocks the isolate: ten fetches wait at once", async () => {
    let waiting = 0;
    let most = 0;
    const gates: (() => void)[] = [];
    const services = new MemoryHostServices({
      http: async (req) => {
        most = Math.max(most, ++waiting);
        if (waiting >= 10) for (const g of gates.splice(0)) g();
        else await new Promise<void>((resolve) => gates.push(resolve) && setTimeout(resolve, 5_000).unref());
        waiting--;
        return { status: 200, headers: {}, body: enc.encode(req.url) };
      },
    });
    const fn = await engine.load(spec("fetches"), enc.encode(`async (s, p) => (await fetch("https://example.com/" + new TextDecoder().decode(p))).text()`), { services, log: () => undefined });
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => invokeText(fn, String(i))));
    assert.deepEqual(replies, Array.from({ length: 10 }, (_, i) => `https://example.com/${i}`));
    assert.equal(most, 10);
    fn.dispose();
  });

  void test("v8 concurrency - an invocation that times out while waiting fails alone; the others it overlapped finish", async () => {
    const services = new HeldServices(Infinity, 60_000);
    const fn = await engine.load(spec("slow-one", { timeoutMs: 2_000 }), enc.encode(`let calls = 0;
      async (s, p) => {
        calls++;
        const mode = new TextDecoder().decode(p);
        if (mode === "hang") { messaging.publish("hanging", ""); await messaging.async.request("never", ""); }
        if (mode === "wait") return new TextDecoder().decode(await messaging.async.request("held.echo", "done"));
        return "calls " + calls;
      }`), { services, log: () => undefined });
    let hangSettled = false;
    const hang = fn.invoke({ subject: "t", payload: enc.encode("hang") }).finally(() => (hangSettled = true));
    hang.catch(() => undefined);
    await check(() => services.published.some((m) => m.subject === "hanging"));
    // The neighbours start well inside the hanging one's time, so their own deadlines come well after its deadline.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const waits = Array.from({ length: 3 }, () => invokeText(fn, "wait"));
    await check(() => services.waiting === 3);
    assert.equal(hangSettled, false, "the neighbours overlapped the hanging invocation");
    const err = await failure(hang);
    assert.equal(err.code, "NEX_E_FUNCTION_TIMEOUT");
    assert.match(err.message, /slow-one ran past its 2000 ms timeout/);
    services.release();
    assert.deepEqual(await Promise.all(waits), ["done", "done", "done"], "the waiting neighbours were not stopped with it");
    // New invocations went to a fresh isolate, built from the compiled source: module state starts again.
    assert.equal(await invokeText(fn, "count"), "calls 1");
    fn.dispose();
  });

  void test("v8 concurrency - an invocation that loops past its timeout takes the others down with a coded error, not a hang", async () => {
    const services = new HeldServices(Infinity, 60_000);
    const fn = await engine.load(spec("spinner", { timeoutMs: 400 }), enc.encode(`async (s, p) => {
      const mode = new TextDecoder().decode(p);
      if (mode === "spin") { messaging.publish("spinning", ""); for (;;); }
      if (mode === "wait") return messaging.async.request("held.echo", "");
      return "quick";
    }`), { services, log: () => undefined });
    const spin = fn.invoke({ subject: "t", payload: enc.encode("spin") });
    spin.catch(() => undefined);
    await check(() => services.published.some((m) => m.subject === "spinning"));
    const waits = Array.from({ length: 3 }, () => fn.invoke({ subject: "t", payload: enc.encode("wait") }));
    for (const w of waits) w.catch(() => undefined);
    assert.equal((await failure(spin)).code, "NEX_E_FUNCTION_TIMEOUT");
    for (const w of waits) {
      const e = await failure(w);
      assert.equal(e.code, "NEX_E_FUNCTION_TIMEOUT");
      assert.match(e.message, /spinner was stopped: another invocation ran past its 400 ms timeout/);
    }
    assert.equal(await invokeText(fn, "quick"), "quick", "a fresh isolate answers");
    fn.dispose();
  });

  void test("v8 concurrency - a memory kill while invocations wait fails them all with NEX_E_FUNCTION_MEMORY", async () => {
    const services = new HeldServices(Infinity, 60_000);
    const fn = await engine.load(spec("bomb", { memoryLimitMiB: 16 }), enc.encode(`async (s, p) => {
      const mode = new TextDecoder().decode(p);
      if (mode === "wait") return messaging.async.request("held.echo", "");
      if (mode === "bomb") {
        // Outside any trip into the isolate: in a timer callback.
        await new Promise((resolve) => setTimeout(resolve, 5));
        const keep = [];
        for (let i = 0; ; i++) keep.push({ i, s: "x".repeat(64) + i });
      }
      return "alive";
    }`), { services, log: () => undefined });
    const waits = Array.from({ length: 3 }, () => fn.invoke({ subject: "t", payload: enc.encode("wait") }));
    for (const w of waits) w.catch(() => undefined);
    await check(() => services.waiting === 3);
    assert.equal((await failure(fn.invoke({ subject: "t", payload: enc.encode("bomb") }))).code, "NEX_E_FUNCTION_MEMORY");
    for (const w of waits) assert.equal((await failure(w)).code, "NEX_E_FUNCTION_MEMORY");
    assert.equal(await invokeText(fn, "alive"), "alive");
    fn.dispose();
  });

  void test("v8 concurrency - leftover async calls are refused once their invocation settled", async () => {
    const calls: string[] = [];
    const services = new MemoryHostServices();
    const kvSet = services.kvSet.bind(services);
    services.kvSet = (bucket, key, value) => {
      calls.push(key);
      return kvSet(bucket, key, value);
    };
    const fn = await engine.load(spec("leftover-async"), enc.encode(`const refused = [];
      async (s, p) => {
        if (new TextDecoder().decode(p) === "report") return refused;
        await kv("left").async.set("during", "1");
        (async () => {
          for (let i = 0; i < 50; i++) await null;
          try { await kv("left").async.set("after", "1"); } catch (e) { refused.push([e.name, e.message]); }
          try { await fetch("https://example.com/late"); } catch (e) { refused.push([e.name, e.message]); }
        })();
        return "ok";
      }`), { services, log: () => undefined });
    assert.equal(await invokeText(fn), "ok");
    const refused = await check(async () => {
      const r = JSON.parse(await invokeText(fn, "report")) as [string, string][];
      return r.length === 2 ? r : undefined;
    });
    assert.deepEqual(calls, ["during"]);
    assert.deepEqual(refused.map(([name]) => name), ["HostServiceError", "TypeError"]);
    for (const [, message] of refused) assert.match(message, /only while an invocation runs/);
    fn.dispose();
  });

  void test("v8 concurrency - top-level code gets the synchronous calls, and a clear refusal for async ones", async () => {
    const services = new MemoryHostServices();
    await services.kvSet("cfg", "k", enc.encode("warm"));
    const fn = await engine.load(spec("toplevel-async"), enc.encode(`
      const warm = new TextDecoder().decode(kv("cfg").get("k"));
      let early = "pending";
      kv("cfg").async.get("k").then(() => { early = "resolved"; }, (e) => { early = e.name + ": " + e.message; });
      (s, p) => ({ warm, early })`), { services, log: () => undefined });
    const r = JSON.parse(await invokeText(fn)) as { warm: string; early: string };
    assert.equal(r.warm, "warm");
    assert.match(r.early, /^HostServiceError: the top-level code cannot wait on async host calls/);
    fn.dispose();
  });

  void test("v8 concurrency - replaced built-ins never receive a runtime function while async calls are in flight", async () => {
    const services = new MemoryHostServices({ responders: { "svc.x": () => "x" } });
    await services.kvSet("b", "k", enc.encode("v"));
    const fn = await engine.load(spec("spy"), enc.encode(`
      const seen = new Set(), mine = new Set(), call = Reflect.apply;
      const spy = (obj, name) => {
        const orig = obj[name];
        const wrapper = function (...args) { for (const a of args) if (typeof a === "function" && !mine.has(a)) seen.add(a); return call(orig, this, args); };
        mine.add(wrapper);
        obj[name] = wrapper;
      };
      for (const [o, n] of [[Promise.prototype, "then"], [Promise.prototype, "catch"], [Promise.prototype, "finally"], [Promise, "resolve"],
        [Promise, "reject"], [Map.prototype, "set"], [Map.prototype, "get"], [Array.prototype, "push"], [Function.prototype, "call"],
        [Function.prototype, "apply"], [Function.prototype, "bind"], [Reflect, "apply"], [Object, "freeze"], [globalThis, "setTimeout"]]) spy(o, n);
      async (s, p) => {
        const v = new TextDecoder().decode(await kv("b").async.get("k"));
        const r = new TextDecoder().decode(await messaging.async.request("svc.x", ""));
        const all = await Promise.all([kv("b").async.keys(), kv("b").async.get("nope")]);
        await new Promise((resolve) => setTimeout(resolve, 1));
        return { v, r, all, leaked: [...seen].map((f) => String(f).slice(0, 60)), globals: Object.getOwnPropertyNames(globalThis).filter((n) => /^__nex|^rt$/i.test(n)) };
      }`), { services, log: () => undefined });
    const r = JSON.parse(await invokeText(fn)) as Record<string, unknown>;
    assert.deepEqual(r, { v: "v", r: "x", all: [["k"], null], leaked: r["leaked"], globals: [] });
    // What the spies saw is what the function itself passed (its own promise callbacks), never the runtime's.
    for (const src of r["leaked"] as string[]) assert.doesNotMatch(src, /closeTrip|deliver|request|posted|rethrow|orNull|answer|pending/, src);
    fn.dispose();
  });
});
