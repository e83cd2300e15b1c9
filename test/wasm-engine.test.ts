import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NexError, type WorkloadSpec } from "../src/contract/index.js";
import { MemoryHostServices, hostError } from "../src/hostservices/index.js";
import type { FunctionEngine, LoadedFunction, WorkloadBindings } from "../src/runtimes/engine.js";
import { REPO_ROOT } from "../src/testkit/index.js";
import { createWasmEngine } from "../src/runtimes/wasm/engine.js";
import { capMemory, WASM_PAGE_BYTES } from "../src/runtimes/wasm/limits.js";
import { WorkerPool, type PoolJob } from "../src/runtimes/wasm/pool.js";
import { hostCall } from "../src/runtimes/wasm/hostcalls.js";
import { NexStatus, type HostReply, type HostRequest } from "../src/runtimes/wasm/abi.js";
import { wasm } from "../src/runtimes/wasm/wasm-api.js";

const FIXTURES = join(REPO_ROOT, "test", "fixtures", "wasm");
const fixture = (name: string): Uint8Array => readFileSync(join(FIXTURES, `${name}.wasm`));
const ECHO = readFileSync(join(REPO_ROOT, "examples", "wasm", "echo", "echo.wasm"));
const enc = new TextEncoder();

function spec(name: string, extra: Partial<WorkloadSpec> = {}): WorkloadSpec {
  return {
    id: `id-${name}`,
    name,
    namespace: "default",
    type: "wasm",
    location: "file:///dev/null",
    triggers: [name],
    timeoutMs: 2_000,
    memoryLimitMiB: 64,
    env: {},
    argv: [],
    lifecycle: "function",
    restart: "never",
    tags: {},
    noNetwork: false,
    maxProcesses: 0,
    maxConcurrency: 8,
    createdAt: new Date(0).toISOString(),
    replicas: 1,
    spread: false,
    generation: 1,
    maxDeliver: 5,
    backoff: [1000],
    noOverlap: false,
    sandboxed: false,
    ...extra,
  };
}

/** An engine with no NATS at all: host services live in memory. */
async function engine(): Promise<FunctionEngine> {
  return createWasmEngine({ nodeId: "test", maxReplyBytes: 4 * 1_048_576, batchSize: 1 }, { pool: { size: 2 } });
}

/** Bindings that keep log lines in `logs`. */
function bindings(logs: string[] = [], services = new MemoryHostServices({ autoCreateBuckets: false })): WorkloadBindings {
  return { services, log: (stream, line) => void logs.push(`${stream}:${line}`) };
}

async function failure(fn: LoadedFunction, subject = "s", payload = ""): Promise<NexError> {
  const err = await fn.invoke({ subject, payload: enc.encode(payload) }).then(
    () => assert.fail("expected an error"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof NexError, String(err));
  return err;
}

void describe("wasm engine (no node)", () => {
  const logs: string[] = [];
  let eng: FunctionEngine;
  before(async () => {
    eng = await engine();
  });
  after(async () => eng.close());

  void test("wasm engine - echo returns exact bytes, including a full 1 MiB payload", async () => {
    const fn = await eng.load(spec("echo"), ECHO, bindings(logs));
    const r = await fn.invoke({ subject: "echowasm", payload: enc.encode("hello nex!") });
    assert.equal(Buffer.from(r.body).toString(), "hello nex!echowasm");
    const mib = new Uint8Array(1_048_576).map((_, i) => i % 251);
    const big = await fn.invoke({ subject: "s.big", payload: mib });
    assert.deepEqual(Buffer.from(big.body), Buffer.concat([mib, Buffer.from("s.big")]));
  });

  void test("wasm engine - a non-ASCII subject reaches argv intact (UTF-8 sizes, not UTF-16)", async () => {
    const fn = await eng.load(spec("utf8"), ECHO, bindings(logs));
    const r = await fn.invoke({ subject: "grüße.ünï", payload: enc.encode(">") });
    assert.equal(Buffer.from(r.body).toString(), ">grüße.ünï");
  });

  void test("wasm engine - exit, trap, timeout and memory each map to their code, and the engine recovers", async () => {
    const exit = await failure(await eng.load(spec("exit"), fixture("exit"), bindings(logs)));
    assert.equal(exit.code, "NEX_E_FUNCTION_EXIT");
    assert.match(exit.message, /code 3.*something went wrong/s);
    assert.equal((await failure(await eng.load(spec("trap"), fixture("trap"), bindings(logs)))).code, "NEX_E_FUNCTION_EXIT");
    assert.equal((await failure(await eng.load(spec("loop", { timeoutMs: 200 }), fixture("loop"), bindings(logs)))).code, "NEX_E_FUNCTION_TIMEOUT");
    assert.equal((await failure(await eng.load(spec("bomb", { memoryLimitMiB: 16 }), fixture("membomb"), bindings(logs)))).code, "NEX_E_FUNCTION_MEMORY");
    const echo = await eng.load(spec("again"), ECHO, bindings(logs));
    assert.equal(Buffer.from((await echo.invoke({ subject: "x", payload: enc.encode("ok ") })).body).toString(), "ok x");
    assert.ok(logs.includes("stderr:something went wrong"), logs.join("\n"));
  });

  void test("wasm engine - a reply larger than the limit is refused, not truncated", async () => {
    const small = await createWasmEngine({ nodeId: "t", maxReplyBytes: 1_000, batchSize: 1 }, { pool: { size: 1 } });
    try {
      const fn = await small.load(spec("writes"), fixture("writes"), bindings());
      const err = await failure(fn);
      assert.equal(err.code, "NEX_E_FUNCTION_ERROR");
      assert.match(err.message, /larger than/);
    } finally {
      await small.close();
    }
  });

  void test("wasm engine - every call starts from clean memory, even on a reused worker", async () => {
    const fn = await eng.load(spec("counter"), fixture("counter"), bindings(logs));
    for (let i = 0; i < 6; i++) {
      assert.equal(Buffer.from((await fn.invoke({ subject: "c", payload: new Uint8Array(0) })).body).toString(), "1 1", `call ${i + 1}`);
    }
  });

  void test("wasm engine - maxConcurrency bounds how many workers one function holds at once", async () => {
    // Requests wait until two are held at once, or 150 ms have passed; `most` is the most held at once.
    let held: (() => void)[] = [];
    let most = 0;
    const services = new MemoryHostServices({
      responders: {
        "held.svc": (d) =>
          new Promise<Uint8Array>((resolve) => {
            held.push(() => resolve(d));
            most = Math.max(most, held.length);
            const go = (): void => {
              const now = held;
              held = [];
              for (const r of now) r();
            };
            if (held.length >= 2) go();
            else setTimeout(go, 150).unref();
          }),
      },
    });
    for (const limit of [1, 2]) {
      most = 0;
      const fn = await eng.load(spec(`held-${limit}`, { maxConcurrency: limit }), fixture("hostcalls"), bindings(logs, services));
      const outs = await Promise.all(Array.from({ length: 4 }, (_, i) => fn.invoke({ subject: "s", payload: enc.encode(`request\nheld.svc\nm${i}`) })));
      assert.deepEqual(outs.map((o) => Buffer.from(o.body).toString()), Array.from({ length: 4 }, (_, i) => `2\nm${i}`), "status 2: a two-byte result");
      assert.equal(most, limit, `maxConcurrency ${limit} on a pool of 2`);
      fn.dispose();
    }
  });

  void test("wasm engine - a stopped function refuses new invocations", async () => {
    const fn = await eng.load(spec("gone"), ECHO, bindings(logs));
    fn.dispose();
    assert.equal((await failure(fn)).code, "NEX_E_NOT_FOUND");
  });

  void test("wasm engine - bad artifacts are refused at load with a clear reason", async () => {
    const cases: [Uint8Array, RegExp][] = [
      [fixture("notwasm"), /not a WebAssembly module/],
      [fixture("notwasi"), /not a WASI program/],
      [fixture("bigmem"), /starts with 128 MiB of memory, more than its 64 MiB limit/],
      [ECHO.subarray(0, 500), /truncated|does not compile/],
    ];
    for (const [bytes, why] of cases) {
      await assert.rejects(eng.load(spec("bad"), bytes, bindings(logs)), (e: unknown) => e instanceof NexError && e.code === "NEX_E_BAD_ARTIFACT" && why.test(e.message));
    }
  });
});

const RUSTC = "/usr/bin/rustc";
const hasToolchains = existsSync(RUSTC) && existsSync("/usr/include/wasm32-wasi/stdio.h");

void describe("wasm examples rebuilt from source", () => {
  void test("wasm build - the Rust echo and a C fixture rebuilt with Debian's toolchains behave like the committed ones", { skip: !hasToolchains && "no wasm toolchain" }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "nex-wasm-build-"));
    const eng = await engine();
    try {
      const rs = join(dir, "echo.wasm");
      execFileSync(RUSTC, ["--target", "wasm32-wasi", "-O", "-C", "lto=yes", "-C", "strip=symbols", "-C", "panic=abort", join(REPO_ROOT, "examples/wasm/echo/src/main.rs"), "-o", rs]);
      const c = join(dir, "info.wasm");
      execFileSync("clang", ["--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-s", join(FIXTURES, "info.c"), "-o", c]);
      const echo = await eng.load(spec("rebuilt"), readFileSync(rs), bindings());
      assert.equal(Buffer.from((await echo.invoke({ subject: "echowasm", payload: enc.encode("hello nex!") })).body).toString(), "hello nex!echowasm");
      const info = await eng.load(spec("info", { env: { GREETING: "hi" } }), readFileSync(c), bindings());
      assert.equal(Buffer.from((await info.invoke({ subject: "a.b", payload: new Uint8Array(0) })).body).toString(), "argc=2 argv0=info argv1=a.b GREETING=hi");
    } finally {
      await eng.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

void describe("wasm memory cap", () => {
  void test("wasm limits - the capped module imports a memory that cannot grow past the cap", async () => {
    const capped = capMemory(ECHO, 16);
    const capPages = (16 * 1_048_576) / WASM_PAGE_BYTES;
    assert.equal(capped.maxPages, capPages);
    assert.ok(capped.minPages > 0 && capped.minPages < capPages);
    const mod = await wasm.compile(capped.bytes);
    assert.ok(wasm.Module.imports(mod).some((i) => i.module === "nex" && i.name === "memory" && i.kind === "memory"));
    assert.ok(wasm.Module.exports(mod).some((e) => e.name === "memory" && e.kind === "memory"), "the memory is still exported");
    const stub = new Proxy({}, { get: () => () => 0 }) as Record<string, unknown>;
    // Offering a memory with a larger maximum than the cap is refused by the engine itself.
    const tooBig = new wasm.Memory({ initial: capped.minPages, maximum: capPages + 1 });
    assert.throws(() => new wasm.Instance(mod, { wasi_snapshot_preview1: stub, nex: { memory: tooBig } }), /memory|maximum/i);
    const mem = new wasm.Memory({ initial: capped.minPages, maximum: capped.maxPages }) as { buffer: ArrayBuffer; grow(p: number): number };
    new wasm.Instance(mod, { wasi_snapshot_preview1: stub, nex: { memory: mem } });
    mem.grow(capPages - capped.minPages);
    assert.equal(mem.buffer.byteLength, 16 * 1_048_576);
    assert.throws(() => mem.grow(1), RangeError);
  });

  void test("wasm limits - a declared maximum below the cap is kept", () => {
    // A minimal module: an import section with one function import, and one memory of 1..2 pages.
    const str = (t: string) => [t.length, ...Buffer.from(t)];
    const types = [0x01, 0x04, 0x01, 0x60, 0x00, 0x00];
    const imp = [0x01, ...str("wasi_snapshot_preview1"), ...str("sched_yield"), 0x00, 0x00];
    const bytes = Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...types, 0x02, imp.length, ...imp, 0x05, 0x04, 0x01, 0x01, 0x01, 0x02]);
    assert.deepEqual({ min: capMemory(bytes, 64).minPages, max: capMemory(bytes, 64).maxPages }, { min: 1, max: 2 });
  });
});

void describe("wasm worker pool", () => {
  const pools: WorkerPool[] = [];
  after(async () => Promise.all(pools.map((p) => p.close())));

  async function job(name: string, extra: Partial<PoolJob> = {}): Promise<PoolJob> {
    const capped = capMemory(fixture(name), 16);
    return {
      key: name,
      module: await wasm.compile(capped.bytes),
      memory: { minPages: capped.minPages, maxPages: capped.maxPages },
      args: [name, "subj"],
      env: [],
      stdin: new Uint8Array(0),
      maxOutputBytes: 1_048_576,
      log: { lines: 1_000, lineChars: 16_384 },
      timeoutMs: 2_000,
      onStderr: () => undefined,
      hostCall: async () => ({ status: 0, data: new Uint8Array(0) }),
      ...extra,
    };
  }

  void test("wasm pool - invocations run in parallel, off the main thread", async () => {
    const pool = new WorkerPool({ size: 2 });
    pools.push(pool);
    const loop = await job("loop", { timeoutMs: 600 });
    await pool.whenReady();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const t0 = performance.now();
    const outcomes = await Promise.all([pool.run(loop), pool.run(loop)]);
    const elapsed = performance.now() - t0;
    clearInterval(timer);
    assert.deepEqual(outcomes.map((o) => o.kind), ["timeout", "timeout"]);
    assert.ok(elapsed < 1_150, `two 600 ms loops on two workers took ${elapsed.toFixed(0)} ms (one after the other: 1200 ms)`);
    assert.ok(ticks >= 5, `the main thread kept ticking (${ticks} ticks)`);
  });

  void test("wasm pool - the memory bomb ends with its memory at or under the cap", async () => {
    const pool = new WorkerPool({ size: 1 });
    pools.push(pool);
    const o = await pool.run(await job("membomb"));
    assert.equal(o.kind, "done");
    if (o.kind !== "done") return;
    assert.ok(o.result.trap, "the module aborted");
    assert.ok(o.result.memoryBytes <= 16 * 1_048_576, `memory ${o.result.memoryBytes}`);
    assert.ok(o.result.memoryBytes > 12 * 1_048_576, `memory ${o.result.memoryBytes}`);
  });

  void test("wasm pool - a host call blocks the module until the main thread answers", async () => {
    const seen: HostRequest[] = [];
    const hostCall = async (req: HostRequest): Promise<HostReply> => {
      seen.push(req);
      await new Promise((r) => setTimeout(r, 30));
      return { status: 5, data: enc.encode("value") };
    };
    const pool = new WorkerPool({ size: 1 });
    pools.push(pool);
    const o = await pool.run(await job("hostcalls", { stdin: enc.encode("kv_get\nbucket\nkey"), hostCall }));
    assert.equal(o.kind, "done");
    if (o.kind !== "done") return;
    assert.equal(Buffer.from(o.result.stdout).toString(), "5\nvalue");
    assert.deepEqual(seen, [{ op: "kv.get", args: ["bucket", "key"] }]);
  });

  void test("wasm pool - a module stuck in a host call is still stopped by its timeout", async () => {
    const pool = new WorkerPool({ size: 1 });
    pools.push(pool);
    const stuck = (): Promise<HostReply> => new Promise<HostReply>(() => undefined);
    const o = await pool.run(await job("hostcalls", { stdin: enc.encode("kv_get\nb\nk"), timeoutMs: 200, hostCall: stuck }));
    assert.equal(o.kind, "timeout");
    const again = await pool.run(await job("info"));
    assert.equal(again.kind, "done");
  });
});

void describe("wasm host-call statuses", () => {
  void test("wasm abi - host errors map to stable statuses, by reason, with the message as the result", async () => {
    const failing = (reason: Parameters<typeof hostError>[1]): MemoryHostServices =>
      Object.assign(new MemoryHostServices(), { kvSet: async () => Promise.reject(hostError("kv", reason, `it is ${reason}`)) });
    const cases = [
      ["no_responders", NexStatus.NO_RESPONDERS],
      ["timeout", NexStatus.TIMEOUT],
      ["invalid", NexStatus.INVALID],
      ["denied", NexStatus.DENIED],
      ["limit", NexStatus.LIMIT],
      ["not_found", NexStatus.NOT_FOUND],
      ["failed", NexStatus.FAILED],
    ] as const;
    for (const [reason, status] of cases) {
      const r = await hostCall(failing(reason), { op: "kv.set", args: ["b", "k", enc.encode("v")] });
      assert.equal(r.status, status, reason);
      assert.equal(Buffer.from(r.data).toString(), `kv: it is ${reason}`);
    }
    const missing = await hostCall(new MemoryHostServices(), { op: "kv.get", args: ["b", "nope"] });
    assert.equal(missing.status, NexStatus.NOT_FOUND);
    const badArgs = await hostCall(new MemoryHostServices(), { op: "kv.get", args: ["", 7] });
    assert.equal(badArgs.status, NexStatus.INVALID);
    const found = await hostCall(new MemoryHostServices({ responders: { "t.echo": (d) => d } }), { op: "msg.request", args: ["t.echo", enc.encode("hi")] });
    assert.deepEqual([found.status, Buffer.from(found.data).toString()], [2, "hi"]);
  });
});
