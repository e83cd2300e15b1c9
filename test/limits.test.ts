import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NexError } from "../src/contract/index.js";
import { REPO_ROOT, TestEnv, check } from "../src/testkit/index.js";
import { LogCollector } from "./helpers/native.js";
import { alive, newRunner, rssSampler, runnerPids } from "./helpers/runners.js";

const MiB = 1_048_576;
const NOTICE = /^\[nex\] (\d+) log lines? dropped: a function may log 1000 lines per invocation and 1048576 bytes per second$/;

async function failure(p: Promise<unknown>): Promise<NexError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof NexError) return err;
    throw err;
  }
  throw new Error("the call did not fail");
}

/** The lines a collector got, without notices, and the dropped count of the notices. */
function tally(logs: LogCollector): { kept: string[]; dropped: number; notices: number } {
  const kept: string[] = [];
  let dropped = 0;
  let notices = 0;
  for (const { line } of logs.lines) {
    const m = NOTICE.exec(line);
    if (m) {
      dropped += Number(m[1]);
      notices++;
    } else kept.push(line);
  }
  return { kept, dropped, notices };
}

const MEMORY_BOMB = `(subject, payload) => {
  const mode = new TextDecoder().decode(payload);
  const keep = [];
  if (mode === "wasm") { const m = new WebAssembly.Memory({ initial: 1, maximum: 65536 }); for (let i = 0; i < 8; i++) { m.grow(8000); new Uint8Array(m.buffer).fill(1); } return "grew"; }
  if (mode === "rab") { for (let i = 0; i < 8; i++) { const b = new ArrayBuffer(0, { maxByteLength: 2 ** 32 }); b.resize(2 ** 31); new Uint8Array(b).fill(1); keep.push(b); } return "resized"; }
  if (mode === "gsab") { const b = new SharedArrayBuffer(0, { maxByteLength: 2 ** 32 }); b.grow(2 ** 31); new Uint8Array(b).fill(1); return "grew"; }
  if (mode === "flood") { for (let i = 0; i < 200; i++) { const b = new ArrayBuffer(32 * 1024 * 1024); new Uint8Array(b).fill(1); keep.push(b); } return "flooded"; }
  return "fine";
}`;

void describe("function limits", () => {
  let env: TestEnv;

  before(async () => {
    env = await TestEnv.start();
    await env.node();
  });
  after(async () => env.stop());

  void test("v8 limits - WebAssembly memory, resizable and growable buffers and buffer floods fail with a code while the runner stays small", async (t) => {
    const client = await env.client("memory");
    const before = runnerPids();
    await env.deployJs(client, "mem-echo", `(s, p) => p`, ["mem.echo"]);
    const pid = await newRunner(before);
    await env.deployJs(client, "bomb", MEMORY_BOMB, ["mem.bomb"], { timeoutMs: 20_000, memoryLimitMiB: 64 });
    const rss = rssSampler(pid);
    const codes: Record<string, string> = {};
    for (const mode of ["wasm", "rab", "gsab", "flood"]) {
      const err = await failure(client.invoke("mem.bomb", mode, { timeoutMs: 30_000 }));
      codes[mode] = err.code;
      assert.ok(["NEX_E_FUNCTION_ERROR", "NEX_E_FUNCTION_MEMORY"].includes(err.code), `${mode}: ${err.code} ${err.message}`);
      assert.equal((await client.invoke("mem.echo", "still here")).string(), "still here", `after ${mode}`);
    }
    const peak = rss.stop();
    t.diagnostic(`runner peak RSS ${Math.round(peak / MiB)} MiB; codes ${JSON.stringify(codes)}`);
    assert.ok(peak < 400 * MiB, `runner peak RSS ${Math.round(peak / MiB)} MiB`);
    assert.ok(alive(pid) && runnerPids().includes(pid), "the same runner is still there");
    assert.equal((await client.invoke("mem.bomb", "ok")).string(), "fine", "the function itself answers again");
  });

  void test("logs - a v8 function writing 100,000 lines of 16 KB in one call returns, its runner lives, one notice counts the drops", async (t) => {
    const client = await env.client("chatty");
    const before = runnerPids();
    await env.deployJs(client, "quiet", `(s, p) => "quiet " + new TextDecoder().decode(p)`, ["chatty.quiet"]);
    const pid = await newRunner(before);
    const logs = new LogCollector(await env.nc("chatty"), "chatty", "flood");
    t.after(() => logs.close());
    await env.deployJs(client, "flood", `(s, p) => {
      const line = "x".repeat(16_000);
      for (let i = 0; i < 100_000; i++) console.log(line + i);
      return "done";
    }`, ["chatty.flood"], { timeoutMs: 30_000 });
    const rss = rssSampler(pid);
    const answers = Promise.all(Array.from({ length: 5 }, (_, i) => client.invoke("chatty.quiet", String(i), { timeoutMs: 30_000 })));
    assert.equal((await client.invoke("chatty.flood", "", { timeoutMs: 40_000 })).string(), "done");
    assert.deepEqual((await answers).map((m) => m.string()), ["quiet 0", "quiet 1", "quiet 2", "quiet 3", "quiet 4"]);
    await logs.waitFor(NOTICE);
    const peak = rss.stop();
    const { kept, dropped, notices } = tally(logs);
    t.diagnostic(`kept ${kept.length} lines, dropped ${dropped}, runner peak RSS ${Math.round(peak / MiB)} MiB`);
    assert.equal(notices, 1, "one notice for the invocation");
    assert.equal(kept.length + dropped, 100_000, "every line is either kept or counted");
    assert.ok(kept.length <= 1_000, `${kept.length} lines kept`);
    assert.ok(kept.reduce((n, l) => n + Buffer.byteLength(l), 0) <= MiB, "at most 1 MiB in the second they were written");
    assert.ok(alive(pid) && runnerPids().includes(pid), "the runner was not restarted");
    assert.ok(peak < 400 * MiB, `runner peak RSS ${Math.round(peak / MiB)} MiB`);
    assert.equal((await client.invoke("chatty.quiet", "after")).string(), "quiet after");
  });

  void test("logs - a call keeps 1,000 lines, a long line is cut with a marker, and each call gets its own notice", async () => {
    const client = await env.client("chatty");
    const logs = new LogCollector(await env.nc("chatty"), "chatty", "lines");
    try {
      await env.deployJs(client, "lines", `(s, p) => {
        const n = Number(new TextDecoder().decode(p));
        if (n === 0) { console.log("é".repeat(40_000)); return "long"; }
        for (let i = 0; i < n; i++) console.log("line " + i);
        return "logged " + n;
      }`, ["chatty.lines"]);
      assert.equal((await client.invoke("chatty.lines", "5000")).string(), "logged 5000");
      await logs.waitFor(NOTICE);
      const first = tally(logs);
      assert.equal(first.kept.length, 1_000);
      assert.deepEqual([first.kept[0], first.kept[999]], ["line 0", "line 999"], "the first lines are the ones kept");
      assert.equal(first.dropped, 4_000);
      logs.lines.length = 0;
      assert.equal((await client.invoke("chatty.lines", "1200")).string(), "logged 1200");
      await logs.waitFor(NOTICE);
      assert.equal(tally(logs).dropped, 200, "the next call has its own 1,000 lines and its own notice");
      logs.lines.length = 0;
      assert.equal((await client.invoke("chatty.lines", "0")).string(), "long");
      const cut = await logs.waitFor(/é/);
      assert.ok(cut.endsWith(" …[cut]"), cut.slice(-20));
      assert.ok(Buffer.byteLength(cut) <= 16_384, `${Buffer.byteLength(cut)} bytes`);
      assert.ok(!cut.includes("\ufffd"), "the cut does not split a character");
    } finally {
      logs.close();
    }
  });

  void test("logs - a wasm function flooding stderr returns, its runner lives, and one notice counts the drops", async (t) => {
    const client = await env.client("chatty");
    const wasm = readFileSync(join(REPO_ROOT, "test", "fixtures", "wasm", "logflood.wasm"));
    const { location, sha256 } = await client.uploadArtifact("logflood.wasm", wasm);
    const before = runnerPids();
    await client.deploy({ name: "wflood", type: "wasm", location, sha256, triggers: ["chatty.wflood"], timeoutMs: 30_000 });
    const pid = await newRunner(before);
    await client.deploy({ name: "wquiet", type: "wasm", location, sha256, triggers: ["chatty.wquiet"] });
    const logs = new LogCollector(await env.nc("chatty"), "chatty", "wflood");
    t.after(() => logs.close());
    const rss = rssSampler(pid);
    assert.equal((await client.invoke("chatty.wflood", "100000 16000", { timeoutMs: 40_000 })).string(), "done");
    assert.equal((await client.invoke("chatty.wquiet", "1 5")).string(), "done", "another function of the runner answers");
    await logs.waitFor(NOTICE);
    const { kept, dropped, notices } = tally(logs);
    assert.equal(notices, 1);
    assert.equal(kept.length + dropped, 100_000);
    assert.ok(kept.every((l) => l === "x".repeat(16_000)), "kept lines are whole");
    logs.lines.length = 0;
    assert.equal((await client.invoke("chatty.wflood", "1 8000000", { timeoutMs: 40_000 })).string(), "done");
    const cut = await logs.waitFor(/^x+/);
    assert.equal(cut, "x".repeat(16_384 - Buffer.byteLength(" …[cut]")) + " …[cut]", "an 8 MB line arrives cut to 16 KiB");
    const peak = rss.stop();
    t.diagnostic(`kept ${kept.length} lines, dropped ${dropped}, wasm runner peak RSS ${Math.round(peak / MiB)} MiB`);
    assert.ok(alive(pid) && runnerPids().includes(pid), "the runner was not restarted");
    assert.ok(peak < 400 * MiB, `runner peak RSS ${Math.round(peak / MiB)} MiB`);
  });
});

void describe("function concurrency limits", () => {
  let env: TestEnv;

  before(async () => {
    env = await TestEnv.start();
    await env.node({ tunables: { maxInFlight: 3 } });
  });
  after(async () => env.stop());

  void test("v8 limits - past maxConcurrency invocations wait in line, and past maxInFlight they are refused with NEX_E_LIMIT", async () => {
    const nc = await env.nc();
    let hold = true;
    let most = 0;
    const held: (() => void)[] = [];
    const sub = nc.subscribe("held.limit", {
      callback: (_err, msg) => {
        if (!hold) return void msg.respond(msg.data);
        held.push(() => msg.respond(msg.data));
        most = Math.max(most, held.length);
      },
    });
    await nc.flush();
    const client = await env.client();
    await env.deployJs(client, "one-at-a-time", `async (s, p) => new TextDecoder().decode(await messaging.async.request("held.limit", p, { timeoutMs: 10000 }))`, ["one.at.a.time"], {
      maxConcurrency: 1,
      timeoutMs: 15_000,
    });
    const calls = Array.from({ length: 5 }, (_, i) =>
      client.invoke("one.at.a.time", `m${i}`, { timeoutMs: 20_000 }).then(
        (m) => m.string(),
        (e: unknown) => (e instanceof NexError ? e.code : String(e)),
      ),
    );
    // One runs and holds the responder, two wait in line, and the node refuses what is past maxInFlight (3).
    await check(() => held.length === 1);
    const refused = await check(async () => {
      const settled = await Promise.all(calls.map((c) => Promise.race([c, new Promise((r) => setTimeout(() => r("pending"), 20))])));
      return settled.filter((r) => r === "NEX_E_LIMIT").length === 2 ? settled : undefined;
    });
    assert.equal(refused.filter((r) => r === "pending").length, 3);
    hold = false;
    for (const r of held.splice(0)) r();
    const outcomes = await Promise.all(calls);
    sub.unsubscribe();
    assert.equal(outcomes.filter((r) => r === "NEX_E_LIMIT").length, 2);
    assert.equal(outcomes.filter((r) => /^m\d$/.test(r)).length, 3);
    assert.equal(most, 1, "one invocation at a time reached the responder");
  });
});
