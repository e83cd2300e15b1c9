import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createInbox, type NatsConnection } from "@nats-io/nats-core";
import { NexError, type WorkloadSpec } from "../src/contract/index.js";
import { MemoryHostServices } from "../src/hostservices/index.js";
import type { NexClient } from "../src/client/index.js";
import type { FunctionEngine, FunctionStatus, LoadedFunction } from "../src/runtimes/engine.js";
import { createV8Engine } from "../src/runtimes/v8/engine.js";
import { NODE_DEFAULTS, resolveNodeOptions } from "../src/node/options.js";
import { TestEnv, check } from "../src/testkit/index.js";

/** Idle time of the engine and node under test: short, so that tests wait little for an eviction. */
const IDLE_MS = 200;

/** Counts its calls in module state, which an eviction resets. */
const COUNTER = `let n = 0;\n(subject, payload) => (++n) + ":" + new TextDecoder().decode(payload)`;

function spec(name: string, timeoutMs = 5_000): WorkloadSpec {
  return { id: `${name}-id`, name, namespace: "default", timeoutMs, memoryLimitMiB: 64 } as WorkloadSpec;
}

void test("v8 eviction - the node option: 5 minutes by default, 0 turns it off, anything else invalid is refused", () => {
  const of = (idleEvictMs?: number): number => resolveNodeOptions({ connection: { servers: [] }, idleEvictMs, sandbox: false }).tunables.idleEvictMs;
  assert.equal(of(), NODE_DEFAULTS.idleEvictMs);
  assert.equal(NODE_DEFAULTS.idleEvictMs, 300_000);
  assert.equal(of(0), 0);
  assert.equal(of(2_000), 2_000);
  for (const bad of [-1, 1.5, Number.NaN]) assert.throws(() => of(bad), (e: NexError) => e.code === "NEX_E_INVALID_FIELD" && /evict-idle/.test(e.message));
});

void describe("v8 idle eviction, in the engine", () => {
  let engine: FunctionEngine;
  const services = new MemoryHostServices();

  before(async () => {
    engine = await createV8Engine({ nodeId: "n1", maxReplyBytes: 1_048_576, batchSize: 128, idleEvictMs: IDLE_MS });
    services.createBucket("kv", "wake");
  });
  after(async () => {
    await engine.close();
  });

  const load = (name: string, src: string, extra: Partial<WorkloadSpec> = {}): Promise<LoadedFunction> =>
    engine.load({ ...spec(name), ...extra }, new TextEncoder().encode(src), { services, log: () => undefined });
  const call = async (fn: LoadedFunction, payload = ""): Promise<string> =>
    new TextDecoder().decode((await fn.invoke({ subject: "t", payload: new TextEncoder().encode(payload) })).body);
  const status = (fn: LoadedFunction): FunctionStatus => {
    assert.ok(fn.status, "the v8 engine reports its eviction status");
    return fn.status();
  };
  const evicted = (fn: LoadedFunction, times = 1): Promise<boolean> => check(() => status(fn).idle && status(fn).evictions >= times, 10_000, 20);

  void test("v8 eviction - an idle function loses its isolate, answers its next call from a fresh one, module state reset", async () => {
    const fn = await load("counter", COUNTER);
    assert.equal(await call(fn, "a"), "1:a");
    assert.equal(await call(fn, "b"), "2:b");
    assert.equal(status(fn).idle, false);
    await evicted(fn);
    assert.deepEqual(status(fn), { idle: true, evictions: 1, wakes: 0 });
    assert.equal(await call(fn, "c"), "1:c", "module state starts again after a wake");
    assert.deepEqual(status(fn), { idle: false, evictions: 1, wakes: 1 });
    assert.equal(await call(fn, "d"), "2:d");
    fn.dispose();
  });

  void test("v8 eviction - disabled at 0: a function keeps its isolate", async () => {
    const keep = await createV8Engine({ nodeId: "n1", maxReplyBytes: 1_048_576, batchSize: 128, idleEvictMs: 0 });
    try {
      const fn = await keep.load(spec("kept"), new TextEncoder().encode(COUNTER), { services, log: () => undefined });
      assert.equal(await call(fn, "a"), "1:a");
      // The engine with eviction on evicts one of its own in this time: the other must not.
      const probe = await load("probe", COUNTER);
      await evicted(probe);
      probe.dispose();
      assert.equal(status(fn).idle, false);
      assert.equal(await call(fn, "b"), "2:b");
      fn.dispose();
    } finally {
      await keep.close();
    }
  });

  void test("v8 eviction - 50 calls at once to an evicted function: one wake, each answered once with its own payload", async () => {
    for (const maxConcurrency of [1, 50]) {
      const fn = await load(`burst${maxConcurrency}`, `(s, p) => new TextDecoder().decode(p)`, { maxConcurrency });
      await call(fn, "warm");
      await evicted(fn);
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => call(fn, `m${i}`)));
      assert.deepEqual(answers, Array.from({ length: 50 }, (_, i) => `m${i}`));
      assert.equal(status(fn).wakes, 1, `one wake for the burst (maxConcurrency ${maxConcurrency})`);
      fn.dispose();
    }
  });

  void test("v8 eviction - an invocation running longer than the idle time is not evicted under it", async () => {
    const fn = await load("slow", `let n = 0;\nasync () => { const me = ++n; await new Promise((r) => setTimeout(r, ${IDLE_MS * 4})); return String(me); }`);
    assert.equal(await call(fn), "1");
    assert.equal(status(fn).evictions, 0, "no eviction while it ran");
    // Two at once, again longer than the idle time: both see the same module state.
    assert.deepEqual(await Promise.all([call(fn), call(fn)]), ["2", "3"]);
    assert.equal(status(fn).evictions, 0);
    await evicted(fn);
    fn.dispose();
  });

  void test("v8 eviction - top-level code that runs long is not evicted while it loads, on deploy or on wake", async () => {
    const src = `const until = Date.now() + ${IDLE_MS * 3}; while (Date.now() < until);\nlet n = 0;\n() => String(++n)`;
    const fn = await load("slowload", src);
    assert.equal(status(fn).evictions, 0);
    assert.equal(await call(fn), "1");
    await evicted(fn);
    assert.deepEqual(await Promise.all([call(fn), call(fn)]), ["1", "2"]);
    assert.equal(status(fn).wakes, 1);
    fn.dispose();
  });

  void test("v8 eviction - a function woken in an isolate booted ahead of time logs and calls host services as itself", async () => {
    const logs: Record<string, string[]> = { one: [], two: [], three: [] };
    services.createBucket("kv", "spare");
    const src = (name: string): string => `console.log("loaded ${name}");
kv("spare").set("${name}", "x");
(s, p) => { console.log("ran ${name}"); return String(kv("spare").keys().length > 0); }`;
    const fns: LoadedFunction[] = [];
    for (const name of ["one", "two", "three"]) {
      fns.push(await engine.load(spec(name), new TextEncoder().encode(src(name)), { services, log: (_s, line) => void logs[name]!.push(line) }));
    }
    for (const fn of fns) await evicted(fn);
    // The first wake boots its own isolate, and a spare is booted shortly after; the next ones (apart) take a spare each.
    for (const fn of fns) {
      assert.equal(await call(fn), "true");
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const name of ["one", "two", "three"]) {
      assert.deepEqual(logs[name], [`loaded ${name}`, `loaded ${name}`, `ran ${name}`], `${name} got its own lines only`);
    }
    for (const fn of fns) fn.dispose();
  });

  void test("v8 eviction - a wake that fails gives its callers a coded error; the function stays deployed and wakes later", async () => {
    const flags = services.kv.get("wake")!;
    const src = `const raw = kv("wake").get("mode");
const mode = raw && new TextDecoder().decode(raw);
if (mode === "throw") throw new Error("not now");
if (mode === "oom") { const keep = []; for (;;) keep.push(new Array(1e6).fill(1.5)); }
let n = 0;
(s, p) => (++n) + ":" + new TextDecoder().decode(p)`;
    const fn = await load("fragile", src);
    assert.equal(await call(fn, "a"), "1:a");
    for (const [mode, code] of [
      ["throw", "NEX_E_BAD_ARTIFACT"],
      ["oom", "NEX_E_FUNCTION_MEMORY"],
    ] as const) {
      await evicted(fn);
      flags.set("mode", new TextEncoder().encode(mode));
      const calls = Array.from({ length: 5 }, (_, i) => call(fn, `x${i}`).then(
        () => "answered",
        (e: NexError) => e,
      ));
      for (const r of await Promise.all(calls)) {
        assert.ok(r instanceof NexError, `${mode}: a failed wake rejects`);
        assert.equal(r.code, code, `${mode}: ${r.message}`);
        assert.match(r.message, /idle/);
      }
      assert.equal(status(fn).idle, true, "still evicted, still deployed");
      flags.delete("mode");
      assert.equal(await call(fn, "b"), "1:b", "it wakes once the top-level code can run again");
    }
    fn.dispose();
  });
});

void describe("v8 idle eviction, on a node", () => {
  let env: TestEnv;
  let client: NexClient;
  let nc: NatsConnection;

  before(async () => {
    env = await TestEnv.start();
    await env.node({ idleEvictMs: IDLE_MS });
    client = await env.client();
    nc = await env.nc();
  });
  after(async () => env.stop());

  const stateOf = async (name: string): Promise<string | undefined> => (await client.list()).find((w) => w.name === name)?.state;
  const idle = (name: string): Promise<boolean> => check(async () => (await stateOf(name)) === "idle", 15_000, 50);

  void test("v8 eviction - nex ls shows an evicted function idle; its next request wakes it, module state reset", async () => {
    await env.deployJs(client, "lazy", COUNTER, ["lazy"]);
    assert.equal((await client.invoke("lazy", "a")).string(), "1:a");
    assert.equal((await client.invoke("lazy", "b")).string(), "2:b");
    await idle("lazy");
    const ls = await env.cli(["ls"]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /lazy.*idle/);
    assert.equal((await client.invoke("lazy", "c")).string(), "1:c");
    assert.equal(await stateOf("lazy"), "running");
  });

  void test("v8 eviction - 50 requests at once to an evicted function are answered exactly once each", async () => {
    await env.deployJs(client, "crowd", `(s, p) => new TextDecoder().decode(p)`, ["crowd"], { maxConcurrency: 10 });
    assert.equal((await client.invoke("crowd", "warm")).string(), "warm");
    await idle("crowd");
    const prefix = createInbox();
    const got = new Map<string, number>();
    const sub = nc.subscribe(`${prefix}.*`, {
      callback: (_e, m) => {
        const i = m.subject.slice(prefix.length + 1);
        assert.equal(m.string(), `m${i}`);
        got.set(i, (got.get(i) ?? 0) + 1);
      },
    });
    for (let i = 0; i < 50; i++) nc.publish("crowd", `m${i}`, { reply: `${prefix}.${i}` });
    await nc.flush();
    await check(() => got.size === 50, 10_000);
    // Late duplicates would arrive within this time.
    await new Promise((r) => setTimeout(r, 300));
    sub.unsubscribe();
    assert.deepEqual([...got.values()], Array.from({ length: 50 }, () => 1));
  });

  void test("v8 eviction - a published message without a reply and a durable delivery wake their functions too", async () => {
    await env.deployJs(client, "sink", `(s, p) => { if (new TextDecoder().decode(p) !== "ok") throw new Error("bad payload"); }`, ["sink.in"]);
    nc.publish("sink.in", "ok");
    await idle("sink");
    nc.publish("sink.in", "ok");
    const sink = await check(async () => {
      const w = (await client.list()).find((x) => x.name === "sink");
      return w && w.invocations === 2 ? w : undefined;
    });
    assert.equal(sink.failures, 0, "the reply-less message ran in a fresh isolate");
    await env.deployJs(client, "stored", COUNTER, ["stored.in"], { durable: true });
    assert.equal((await nc.request("stored.in", "a", { timeout: 5_000 })).string(), "1:a");
    await idle("stored");
    assert.equal((await nc.request("stored.in", "b", { timeout: 5_000 })).string(), "1:b", "the durable delivery woke a fresh isolate");
    await client.stop("stored", { deleteStream: true });
  });
});
