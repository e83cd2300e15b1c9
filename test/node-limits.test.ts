/**
 * A node's maximums for one workload: a deploy over any of them is refused with NEX_E_LIMIT naming the limit and the
 * maximum, before the artifact is fetched; an auction that names such a limit gets no bid from that node; a deploy
 * that leaves a limit to its default gets the default lowered to the node's maximum.
 */
import { strict as assert } from "node:assert";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { NexClient } from "../src/client/index.js";
import { NexError, decode, type DeployRequest, type NodeInfo } from "../src/contract/index.js";
import { capDefaults, overMaximum, unsupportedLimit } from "../src/node/limits.js";
import type { NexNode } from "../src/node/node.js";
import { NODE_DEFAULTS, resolveNodeOptions } from "../src/node/options.js";
import { createLimits } from "../src/runtimes/native/cgroups.js";
import { TestEnv, check, collect, spawnCli } from "../src/testkit/index.js";
import { cgroupDirsOf } from "./helpers/native.js";

async function failure(p: Promise<unknown>): Promise<NexError> {
  const err = await p.then(
    () => assert.fail("expected a failure"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof NexError, String(err));
  return err;
}

const MAX = { memoryLimitMiB: 128, timeoutMs: 1_000, maxProcesses: 8, cpus: 0.5 };

void describe("node limits", () => {
  let env: TestEnv;
  let small: NexNode;
  let big: NexNode;
  let client: NexClient;

  before(async () => {
    env = await TestEnv.start();
    small = await env.node({ name: "small", maxMemoryMiB: 128, maxTimeoutMs: 1_000, maxProcesses: 8, maxCpus: 0.5, warmRunners: false });
    big = await env.node({ name: "big", warmRunners: false });
    client = await env.client();
  });
  after(() => env?.stop());

  void test("limits - a deploy over a node's maximum gets NEX_E_LIMIT naming the limit and the maximum, before anything is fetched", async () => {
    // The location does not exist: a fetch would fail with NEX_E_ARTIFACT_FETCH, so NEX_E_LIMIT shows the check came first.
    const nowhere = "nats://NO_SUCH_BUCKET/x";
    const fn: DeployRequest = { name: "over", type: "v8", location: nowhere, triggers: ["over"] };
    const svc: DeployRequest = { name: "over", type: "native", location: nowhere };
    const cases: [DeployRequest, RegExp][] = [
      [{ ...fn, memoryLimitMiB: 256 }, /^memoryLimitMiB: 256 MiB is over this node's maximum of 128 MiB \(--max-memory-mib\)$/],
      [{ ...fn, timeoutMs: 2_000 }, /^timeoutMs: 2000 ms is over this node's maximum of 1000 ms \(--max-timeout-ms\)$/],
      [{ ...svc, maxProcesses: 16 }, /^maxProcesses: 16 is over this node's maximum of 8 \(--max-processes\)$/],
      [{ ...svc, cpus: 1 }, /^cpus: 1 CPUs is over this node's maximum of 0.5 CPUs \(--max-cpus\)$/],
    ];
    for (const [req, message] of cases) {
      const e = await failure(client.deploy(req, { node: small.id }));
      assert.equal(e.code, "NEX_E_LIMIT", `${JSON.stringify(req)}: ${e.message}`);
      assert.match(e.message, message);
      assert.match(e.hint, /ask for less/i);
    }
    // At the maximum is within it; the big node (defaults) takes what the small one refuses.
    assert.equal((await failure(client.deploy({ ...fn, memoryLimitMiB: 128 }, { node: small.id }))).code, "NEX_E_ARTIFACT_FETCH");
    assert.equal((await failure(client.deploy({ ...fn, memoryLimitMiB: 256 }, { node: big.id }))).code, "NEX_E_ARTIFACT_FETCH");
    assert.equal((await client.list()).length, 0);
  });

  void test("limits - an auction that names limits gets bids only from nodes whose maximums allow them, and placement follows", async () => {
    const bidders = async (type: "v8" | "native", limits: Parameters<NexClient["auction"]>[2]): Promise<string[]> =>
      (await client.auction(type, undefined, limits)).map((b) => b.node.name).sort();
    assert.deepEqual(await bidders("v8", {}), ["big", "small"]);
    assert.deepEqual(await bidders("v8", { memoryLimitMiB: 128, timeoutMs: 1_000 }), ["big", "small"]);
    assert.deepEqual(await bidders("v8", { memoryLimitMiB: 256 }), ["big"]);
    assert.deepEqual(await bidders("v8", { timeoutMs: 60_000 }), ["big"]);
    assert.deepEqual(await bidders("native", { maxProcesses: 100 }), ["big"]);
    assert.deepEqual(await bidders("native", { cpus: 1 }), ["big"]);
    // A limit that does not apply to the type is no reason to decline: functions have no process limit.
    assert.deepEqual(await bidders("v8", { maxProcesses: 100 }), ["big", "small"]);
    const r = await env.deployJs(client, "roomy", `(s, p) => "ok"`, ["roomy"], { memoryLimitMiB: 256 });
    assert.equal(r.nodeId, big.id, "the deploy lands on the node that allows it");
    assert.equal(r.bids, 1);
    await client.stop("roomy");
  });

  void test("limits - a limit left to its default is lowered to the node's maximum instead of being refused", async () => {
    // A native service's default memory (256 MiB) is over the small node's 128: the workload gets 128.
    const r = await client.deploy(
      { name: "sleeper", type: "native", location: "file:///bin/sleep", argv: ["60"], restart: "never" },
      { node: small.id },
    );
    const limit = (...names: string[]): number | undefined => {
      const file = cgroupDirsOf(r.id).flatMap((d) => names.map((n) => join(d, n))).find((f) => existsSync(f));
      return file === undefined ? undefined : Number(readFileSync(file, "utf8"));
    };
    try {
      assert.equal(await check(() => limit("memory.limit_in_bytes", "memory.max")), 128 * 1024 * 1024);
      assert.equal(limit("pids.max"), 8, "the default process limit (64) is lowered to 8 too");
    } finally {
      await client.stop("sleeper");
    }
  });

  void test("limits - INFO shows a node's maximums and whether it can limit CPU", async () => {
    const info = await client.request<NodeInfo>("INFO", small.id, {});
    assert.deepEqual(info.maximums, MAX);
    assert.equal(typeof info.cpuLimits, "boolean");
    const defaults = await client.request<NodeInfo>("INFO", big.id, {});
    assert.deepEqual(defaults.maximums, {
      memoryLimitMiB: NODE_DEFAULTS.maxMemoryMiB,
      timeoutMs: NODE_DEFAULTS.maxTimeoutMs,
      maxProcesses: NODE_DEFAULTS.maxProcesses,
      cpus: NODE_DEFAULTS.maxCpus,
    });
  });
});

void test("limits - the checks by type: what applies, what is capped, what cannot be enforced", () => {
  assert.equal(overMaximum("native", { timeoutMs: 10_000_000 }, MAX), undefined, "a service has no invocation timeout");
  assert.equal(overMaximum("v8", { cpus: 64 }, MAX), undefined, "a function has no CPU limit");
  assert.equal(overMaximum("wasm", { memoryLimitMiB: 129 }, MAX)?.code, "NEX_E_LIMIT");
  assert.equal(unsupportedLimit("native", { cpus: 0.5 }, { cpus: false })?.code, "NEX_E_UNSUPPORTED_LIMIT");
  assert.equal(unsupportedLimit("native", { cpus: 0.5 }, undefined)?.code, "NEX_E_UNSUPPORTED_LIMIT", "a runtime that says nothing enforces nothing");
  assert.equal(unsupportedLimit("native", {}, { cpus: false }), undefined);
  const spec = { memoryLimitMiB: 256, timeoutMs: 5_000, maxProcesses: 64 };
  assert.deepEqual(capDefaults(spec, {}, MAX), { memoryLimitMiB: 128, timeoutMs: 1_000, maxProcesses: 8 });
  assert.deepEqual(capDefaults(spec, { memoryLimitMiB: 256, timeoutMs: 5_000, maxProcesses: 64 }, MAX), spec, "what was asked for is kept, and checked");
  // Without a cgroup there is no stand-in for a CPU limit: refused, never silently dropped.
  assert.throws(() => createLimits("no-cgroups", { memoryBytes: 1 << 26, maxProcesses: 8, cpus: 0.5 }, false), (e: NexError) => e.code === "NEX_E_UNSUPPORTED_LIMIT");
  assert.equal(createLimits("no-cgroups", { memoryBytes: 1 << 26, maxProcesses: 8 }, false).kind, "rlimit");
});

void test("limits - cpus is a number within bounds, for native workloads only; node maximums are checked when the node starts", async () => {
  const svc = { name: "s", type: "native", location: "nats://B/k" };
  assert.equal(decode.deploy({ ...svc, cpus: 0.5 }).cpus, 0.5);
  assert.equal(decode.deploy(svc).cpus, undefined, "no CPU limit unless asked for");
  for (const bad of [0, -1, 0.001, 2_000, "2", "half", true]) {
    assert.throws(() => decode.deploy({ ...svc, cpus: bad }), /NEX_E_INVALID_FIELD|cpus: must be a number/);
  }
  assert.throws(() => decode.deploy({ name: "f", type: "v8", location: "nats://B/k", triggers: ["f"], cpus: 1 }), /only native workloads have a CPU limit/);
  assert.deepEqual(decode.auction({ type: "native", cpus: 2, memoryLimitMiB: 512 }), { type: "native", cpus: 2, memoryLimitMiB: 512 });
  const base = { connection: { servers: ["nats://127.0.0.1:1"] } };
  assert.throws(() => resolveNodeOptions({ ...base, maxCpus: 0 }), /max-cpus: must be a number of at least 0.01/);
  assert.throws(() => resolveNodeOptions({ ...base, maxMemoryMiB: 4 }), /max-memory-mib: must be an integer of at least 8/);
  assert.equal(resolveNodeOptions({ ...base, maxCpus: 0.5 }).maximums.cpus, 0.5);
  const bad = await collect(spawnCli(["node", "up", "--max-cpus", "lots", "-s", "nats://127.0.0.1:1"]), 20_000);
  assert.match(bad.stderr, /NEX_E_INVALID_FIELD: --max-cpus: must be a number/);
  const flag = await collect(spawnCli(["devrun", "/bin/true", "--cpus", "half"], { NATS_URL: "nats://127.0.0.1:1" }), 20_000);
  assert.match(flag.stderr, /NEX_E_INVALID_FIELD: --cpus/);
});
