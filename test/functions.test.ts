import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { NexError } from "../src/contract/index.js";
import { errorFromReply, type NexClient } from "../src/client/index.js";
import { TestEnv, check } from "../src/testkit/index.js";
import type { NexNode } from "../src/node/node.js";

const ECHO = `(subject, payload) => {
  console.log(subject);
  return {
    triggered_on: subject,
    payload: String.fromCharCode(...payload)
  };
};`;

describe("functions", () => {
  let env: TestEnv;
  let node: NexNode;
  let client: NexClient;

  before(async () => {
    env = await TestEnv.start();
    node = await env.node();
    client = await env.client();
  });
  after(async () => env.stop());

  test("functions - the talk's echo.js answers with JSON on the trigger subject", async () => {
    await env.deployJs(client, "echo", ECHO, ["echo"]);
    const m = await client.invoke("echo", "hello nex!");
    assert.deepEqual(m.json(), { triggered_on: "echo", payload: "hello nex!" });
  });

  test("functions - a string, bytes, an object and a promise come back as the reply", async () => {
    await env.deployJs(client, "kinds", `(subject, payload, ctx) => {
      const kind = String.fromCharCode(...payload);
      if (kind === "string") return "plain text";
      if (kind === "bytes") return new Uint8Array([0, 1, 2, 255]);
      if (kind === "object") return { a: 1, nested: { b: [true, null] } };
      if (kind === "promise") return new Promise((resolve) => resolve({ later: true }));
      if (kind === "undefined") return undefined;
      if (kind === "subject") return subject;
    }`, ["kinds.*"]);
    assert.equal((await client.invoke("kinds.x", "string")).string(), "plain text");
    assert.deepEqual([...(await client.invoke("kinds.x", "bytes")).data], [0, 1, 2, 255]);
    assert.deepEqual((await client.invoke("kinds.x", "object")).json(), { a: 1, nested: { b: [true, null] } });
    assert.deepEqual((await client.invoke("kinds.x", "promise")).json(), { later: true });
    assert.equal((await client.invoke("kinds.x", "undefined")).data.length, 0);
    assert.equal((await client.invoke("kinds.abc", "subject")).string(), "kinds.abc", "the function gets the real subject");
  });

  test("functions - async functions are awaited", async () => {
    await env.deployJs(client, "asyncfn", `async (subject, payload) => { await null; return "done:" + payload.length; }`, ["asyncfn"]);
    assert.equal((await client.invoke("asyncfn", "abc")).string(), "done:3");
  });

  test("functions - an exception gives an error reply with code and message, and an event", async () => {
    await env.deployJs(client, "thrower", `() => { throw new TypeError("boom"); }`, ["thrower"]);
    const nc = await env.nc();
    const events: string[] = [];
    const sub = nc.subscribe("$NEX.FEED.default.events.function_failed", { callback: (_e, m) => void events.push(m.string()) });
    await nc.flush();
    const m = await nc.request("thrower", "x", { timeout: 5_000 });
    const err = errorFromReply(m);
    assert.ok(err instanceof NexError);
    assert.equal(err.code, "NEX_E_FUNCTION_ERROR");
    assert.match(err.message, /TypeError: boom/);
    assert.equal(m.headers?.get("Nats-Service-Error-Code"), "500");
    assert.equal(m.headers?.get("Nex-Error-Code"), "NEX_E_FUNCTION_ERROR");
    await check(() => events.length > 0);
    assert.match(events[0]!, /NEX_E_FUNCTION_ERROR/);
    sub.unsubscribe();
  });

  test("functions - an infinite loop is stopped by the timeout, and the function keeps serving", async () => {
    await env.deployJs(client, "looper", `(s, p) => { if (p.length === 0) return "ok"; while (true) {} }`, ["looper"], { timeoutMs: 200 });
    await assert.rejects(client.invoke("looper", "spin"), (e: NexError) => e.code === "NEX_E_FUNCTION_TIMEOUT");
    assert.equal((await client.invoke("looper", "")).string(), "ok");
  });

  test("functions - an async hang is stopped by the host timer", async () => {
    await env.deployJs(client, "hang", `async (s, p) => { if (p.length) await new Promise(() => {}); return "ok"; }`, ["hang"], { timeoutMs: 200 });
    await assert.rejects(client.invoke("hang", "x"), (e: NexError) => e.code === "NEX_E_FUNCTION_TIMEOUT");
    assert.equal((await client.invoke("hang", "")).string(), "ok");
  });

  test("functions - a memory bomb is killed, the node stays healthy and other functions keep serving", async () => {
    await env.deployJs(client, "bomb", `(s, p) => { if (!p.length) return "ok"; const a = []; while (true) a.push(new Array(100000).fill(Math.random())); }`, ["bomb"], {
      memoryLimitMiB: 16,
      timeoutMs: 20_000,
    });
    await assert.rejects(client.invoke("bomb", "x", { timeoutMs: 25_000 }), (e: NexError) => e.code === "NEX_E_FUNCTION_MEMORY");
    assert.equal((await client.invoke("bomb", "")).string(), "ok", "the function is rebuilt after the kill");
    assert.deepEqual((await client.invoke("echo", "still here")).json(), { triggered_on: "echo", payload: "still here" });
    const info = await client.info(node.id);
    assert.equal(info.state, "running");
  });

  test("functions - a reply larger than the server's max_payload is an error reply, not silence", async () => {
    await env.deployJs(client, "huge", `() => "x".repeat(2 * 1024 * 1024)`, ["huge"]);
    await assert.rejects(client.invoke("huge", ""), (e: NexError) => e.code === "NEX_E_FUNCTION_ERROR" && /allows at most/.test(e.message));
  });

  test("functions - a published message runs the function with nothing to reply to", async () => {
    await env.deployJs(client, "sink", `(s, p) => { console.log("got " + String.fromCharCode(...p)); }`, ["sink"]);
    const nc = await env.nc();
    const lines: string[] = [];
    nc.subscribe("$NEX.FEED.default.logs.sink.>", { callback: (_e, m) => void lines.push(m.string()) });
    await nc.flush();
    nc.publish("sink", "fire-and-forget");
    await check(() => lines.includes("got fire-and-forget"));
  });

  test("functions - console output goes to the workload's log subject", async () => {
    const nc = await env.nc();
    const got: { subject: string; line: string }[] = [];
    nc.subscribe("$NEX.FEED.default.logs.talker.>", { callback: (_e, m) => void got.push({ subject: m.subject, line: m.string() }) });
    await nc.flush();
    await env.deployJs(client, "talker", `() => { console.log("hello", { a: 1 }, [1, 2]); console.error("oops"); return ""; }`, ["talker"]);
    await client.invoke("talker", "");
    await check(() => got.length >= 2);
    assert.ok(got.some((g) => g.subject.endsWith(".stdout") && g.line === "hello { a: 1 } [ 1, 2 ]"));
    assert.ok(got.some((g) => g.subject.endsWith(".stderr") && g.line === "oops"));
  });

  test("functions - no access to host files, processes, environment or network", async () => {
    await env.deployJs(client, "probe", `() => ({
      require: typeof require, process: typeof process, fs: typeof fs, fetchNative: typeof globalThis.Deno,
      buffer: typeof Buffer, setImmediate: typeof setImmediate,
    })`, ["probe"]);
    const r = (await client.invoke("probe", "")).json<Record<string, string>>();
    assert.equal(r["require"], "undefined");
    assert.equal(r["process"], "undefined");
    assert.equal(r["fs"], "undefined");
    assert.equal(r["buffer"], "undefined");
    assert.equal(r["setImmediate"], "undefined");
    await env.deployJs(client, "importer", `async () => { try { await import("node:fs"); return "imported"; } catch (e) { return "refused"; } }`, ["importer"]);
    await assert.rejects(
      (async () => {
        const body = (await client.invoke("importer", "")).string();
        if (body === "imported") return;
        throw new Error(body);
      })(),
      /refused|Not supported/,
    );
  });

  test("functions - killing the runner process restores its functions", async () => {
    const { execSync } = await import("node:child_process");
    const pids = execSync("pgrep -f 'runner/main' || true").toString().trim().split("\n").filter(Boolean).map(Number);
    const mine = pids.filter((p) => {
      try {
        return Number(execSync(`ps -o ppid= -p ${p}`).toString().trim()) === process.pid;
      } catch {
        return false;
      }
    });
    assert.ok(mine.length > 0, "a runner process is a child of this node");
    for (const p of mine) process.kill(p, "SIGKILL");
    await check(async () => {
      try {
        return (await client.invoke("echo", "back", { timeoutMs: 1_000 })).json<{ payload: string }>().payload === "back";
      } catch {
        return false;
      }
    }, 20_000, 200);
    const list = await client.list({ name: "echo" });
    assert.equal(list[0]?.state, "running");
    assert.ok((list[0]?.restarts ?? 0) >= 1, "the restart is counted");
  });
});
