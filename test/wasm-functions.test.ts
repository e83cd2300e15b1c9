import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { NexError, subjects, type DeployRequest } from "../src/contract/index.js";
import type { NexClient } from "../src/client/index.js";
import { REPO_ROOT, TestEnv, check } from "../src/testkit/index.js";
import type { NexNode } from "../src/node/node.js";

const FIXTURES = join(REPO_ROOT, "test", "fixtures", "wasm");
const ECHO_WASM = join(REPO_ROOT, "examples", "wasm", "echo", "echo.wasm");

/** Uploads a module and deploys it as a wasm function. */
async function deployWasm(client: NexClient, name: string, file: string, triggers: string[], extra: Partial<DeployRequest> = {}) {
  const { location, sha256 } = await client.uploadArtifact(`${name}.wasm`, readFileSync(file));
  return client.deploy({ name, type: "wasm", location, sha256, triggers, ...extra });
}

/** Invokes and expects an error reply with `code`; returns its message. */
async function expectError(client: NexClient, subject: string, code: string, payload = ""): Promise<string> {
  const err = await client.invoke(subject, payload, { timeoutMs: 10_000 }).then(
    (m) => assert.fail(`expected ${code}, got a reply: ${m.string().slice(0, 100)}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof NexError, String(err));
  assert.equal(err.code, code, err.message);
  return err.message;
}

void describe("wasm functions", () => {
  let env: TestEnv;
  let node: NexNode;
  let client: NexClient;

  before(async () => {
    env = await TestEnv.start();
    node = await env.node();
    client = await env.client();
    await deployWasm(client, "echowasm", ECHO_WASM, ["echowasm", "echo.wasm.*"]);
  });
  after(async () => env.stop());

  void test("wasm - the talk's Rust echo returns the payload followed by the trigger subject", async () => {
    const m = await client.invoke("echowasm", "hello nex!");
    assert.deepEqual(Buffer.from(m.data), Buffer.from("hello nex!echowasm"));
  });

  void test("wasm - argv[1] is the subject the message really arrived on (wildcard trigger)", async () => {
    const m = await client.invoke("echo.wasm.abc", "x");
    assert.equal(m.string(), "xecho.wasm.abc");
  });

  void test("wasm - a file:// location deploys too, and env and argv reach the module", async () => {
    await client.deploy({
      name: "info",
      type: "wasm",
      location: pathToFileURL(join(FIXTURES, "info.wasm")).href,
      triggers: ["wasm.info"],
      env: { GREETING: "hej" },
    });
    assert.equal((await client.invoke("wasm.info", "")).string(), "argc=2 argv0=info argv1=wasm.info GREETING=hej");
  });

  void test("wasm - a 1 MiB payload goes through stdin, and a reply just under the server's limit comes back exact", async () => {
    await deployWasm(client, "wc", join(FIXTURES, "wc.wasm"), ["wasm.wc"]);
    const mib = new Uint8Array(1_048_576).map((_, i) => (i * 7 + 3) & 0xff);
    let h = 2166136261;
    for (const b of mib) h = Math.imul(h ^ b, 16777619) >>> 0;
    const m = await client.invoke("wasm.wc", mib, { timeoutMs: 10_000 });
    assert.equal(m.string(), `1048576 ${h.toString(16).padStart(8, "0")}`);
    // The echo appends the subject, so the largest echo that fits one message is 1 MiB minus the subject.
    const big = mib.subarray(0, 1_048_576 - "echowasm".length);
    const e = await client.invoke("echowasm", big, { timeoutMs: 10_000 });
    assert.equal(e.data.length, 1_048_576);
    assert.deepEqual(Buffer.from(e.data), Buffer.concat([big, Buffer.from("echowasm")]));
  });

  void test("wasm - many small stdout writes come back whole and in order", async () => {
    await deployWasm(client, "writes", join(FIXTURES, "writes.wasm"), ["wasm.writes"]);
    const want = Array.from({ length: 10_000 }, (_, i) => `${i},`).join("");
    assert.equal((await client.invoke("wasm.writes", "")).string(), want);
  });

  void test("wasm - a non-zero exit gives an error reply with the exit code and the stderr tail", async () => {
    await deployWasm(client, "exiter", join(FIXTURES, "exit.wasm"), ["wasm.exit"]);
    const msg = await expectError(client, "wasm.exit", "NEX_E_FUNCTION_EXIT");
    assert.match(msg, /exited with code 3/);
    assert.match(msg, /something went wrong/);
  });

  void test("wasm - a trap gives an error reply, and stderr reaches the workload's log subject", async () => {
    const nc = await env.nc();
    const lines: string[] = [];
    const sub = nc.subscribe(subjects.logsFilter("default", "trapper"), { callback: (_e, m) => void lines.push(m.string()) });
    await nc.flush();
    await deployWasm(client, "trapper", join(FIXTURES, "trap.wasm"), ["wasm.trap"]);
    const msg = await expectError(client, "wasm.trap", "NEX_E_FUNCTION_EXIT");
    assert.match(msg, /trapped \(trap: unreachable\)/);
    assert.match(msg, /about to trap/);
    await check(() => lines.includes("about to trap"));
    sub.unsubscribe();
  });

  void test("wasm - an infinite loop is stopped at its timeout and the node keeps answering", async () => {
    await deployWasm(client, "looper", join(FIXTURES, "loop.wasm"), ["wasm.loop"], { timeoutMs: 300 });
    const t0 = Date.now();
    await expectError(client, "wasm.loop", "NEX_E_FUNCTION_TIMEOUT");
    assert.ok(Date.now() - t0 < 5_000, "the timeout really stopped the module");
    assert.equal((await client.invoke("echowasm", "still here")).string(), "still hereechowasm");
    const pong = await client.ping();
    assert.equal(pong[0]?.nodeId, node.id);
  });

  void test("wasm - a memory bomb is stopped at its cap and the node keeps answering", async () => {
    await deployWasm(client, "bomb", join(FIXTURES, "membomb.wasm"), ["wasm.bomb"], { memoryLimitMiB: 32 });
    const msg = await expectError(client, "wasm.bomb", "NEX_E_FUNCTION_MEMORY");
    assert.match(msg, /32 MiB/);
    assert.match(msg, /out of memory after 3\d MiB/, "the module could not grow past its cap");
    assert.equal((await client.invoke("echowasm", "after bomb")).string(), "after bombechowasm");
  });

  void test("wasm - 50 concurrent invocations all get their own answer", async () => {
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.invoke(`echo.wasm.c${i}`, `n${i}:`, { timeoutMs: 20_000 })),
    );
    replies.forEach((m, i) => assert.equal(m.string(), `n${i}:echo.wasm.c${i}`));
  });

  void test("wasm - a module that is not WASI is refused at deploy", async () => {
    await assert.rejects(deployWasm(client, "notwasi", join(FIXTURES, "notwasi.wasm"), ["wasm.notwasi"]), (e: unknown) => {
      assert.ok(e instanceof NexError);
      assert.equal(e.code, "NEX_E_BAD_ARTIFACT");
      assert.match(e.message, /not a WASI program/);
      return true;
    });
  });

  void test("wasm - a file that is not wasm at all is refused at deploy", async () => {
    await assert.rejects(deployWasm(client, "notwasm", join(FIXTURES, "notwasm.wasm"), ["wasm.notwasm"]), (e: unknown) => {
      assert.ok(e instanceof NexError);
      assert.equal(e.code, "NEX_E_BAD_ARTIFACT");
      assert.match(e.message, /not a WebAssembly module/);
      return true;
    });
  });

  void test("wasm - failures are counted on the workload and the echo still answers", async () => {
    await deployWasm(client, "counted", join(FIXTURES, "exit.wasm"), ["wasm.counted"]);
    await expectError(client, "wasm.counted", "NEX_E_FUNCTION_EXIT");
    await expectError(client, "wasm.counted", "NEX_E_FUNCTION_EXIT");
    const list = await check(async () => {
      const ws = await client.list();
      const counted = ws.find((w) => w.name === "counted");
      return counted && counted.failures >= 2 ? ws : undefined;
    });
    assert.match(list.find((w) => w.name === "counted")?.lastError ?? "", /NEX_E_FUNCTION_EXIT/);
    assert.ok(list.find((w) => w.name === "echowasm" && w.state === "running"));
    assert.equal((await client.invoke("echowasm", "ok")).string(), "okechowasm");
  });
});
