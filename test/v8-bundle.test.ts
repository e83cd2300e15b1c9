import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { bundleFunction } from "../src/cli/bundle.js";
import { NexError, type WorkloadSpec } from "../src/contract/index.js";
import { MemoryHostServices } from "../src/hostservices/index.js";
import type { FunctionEngine } from "../src/runtimes/engine.js";
import { createV8Engine } from "../src/runtimes/v8/engine.js";
import { REPO_ROOT, TestEnv } from "../src/testkit/index.js";

const UPTIME = join(REPO_ROOT, "examples", "js", "uptime.ts");

async function refusal(file: string): Promise<NexError> {
  try {
    await bundleFunction(file);
  } catch (err) {
    if (err instanceof NexError) return err;
    throw err;
  }
  throw new Error(`${file} was bundled`);
}

void describe("v8 bundle", () => {
  let env: TestEnv;
  let engine: FunctionEngine;

  before(async () => {
    env = await TestEnv.start();
    engine = await createV8Engine({ nodeId: "n1", maxReplyBytes: 1_048_576, batchSize: 128 });
  });
  after(async () => {
    await engine.close();
    await env.stop();
  });

  void test("v8 bundle - a TypeScript function that imports an npm library is bundled and runs", async () => {
    const code = await bundleFunction(UPTIME);
    const spec = { id: "u1", name: "uptime", namespace: "default", timeoutMs: 3_000, memoryLimitMiB: 64 } as WorkloadSpec;
    const fn = await engine.load(spec, code, { services: new MemoryHostServices(), log: () => undefined });
    const since = Date.now() - 2 * 60 * 60 * 1000;
    const r = await fn.invoke({ subject: "uptime", payload: new TextEncoder().encode(JSON.stringify({ since })) });
    const body = JSON.parse(new TextDecoder().decode(r.body)) as { subject: string; up: string; upMs: number; id: string };
    assert.equal(body.subject, "uptime");
    assert.equal(body.up, "2 hours", "ms formatted the duration inside the isolate");
    assert.match(body.id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(r.headers, { "Nex-Function": "uptime" });
    fn.dispose();
  });

  void test("v8 bundle - a bundled module leaves no global of the runtime's behind", async () => {
    const file = join(env.dir, "globals.ts");
    writeFileSync(join(env.dir, "double.ts"), `export const twice = (n: number): number => 2 * n;\n`);
    writeFileSync(file, `import { twice } from "./double";\nexport default () => ({ names: Object.getOwnPropertyNames(globalThis).filter((n) => /^__nex/i.test(n)), twice: twice(21) });\n`);
    const spec = { id: "g1", name: "globals", namespace: "default", timeoutMs: 3_000, memoryLimitMiB: 64 } as WorkloadSpec;
    const fn = await engine.load(spec, await bundleFunction(file), { services: new MemoryHostServices(), log: () => undefined });
    const r = await fn.invoke({ subject: "g", payload: new Uint8Array(0) });
    assert.deepEqual(JSON.parse(new TextDecoder().decode(r.body)), { names: [], twice: 42 });
    fn.dispose();
  });

  void test("v8 bundle - node:fs and bare Node builtin imports are refused with a clear error", async () => {
    const a = join(env.dir, "readfs.ts");
    writeFileSync(a, 'import { readFileSync } from "node:fs";\nexport default () => readFileSync("/etc/hostname", "utf8");\n');
    const b = join(env.dir, "readfs2.mjs");
    writeFileSync(b, 'import os from "os";\nexport default () => os.hostname();\n');
    for (const [file, mod] of [[a, "node:fs"], [b, "os"]] as const) {
      const err = await refusal(file);
      assert.equal(err.code, "NEX_E_BAD_ARTIFACT");
      assert.match(err.message, new RegExp(`"${mod}" is a Node\\.js module: functions run in a V8 isolate without Node APIs`));
      assert.match(err.message, /host services/);
    }
  });

  void test("v8 bundle - a module that imports but was not bundled is refused at deploy with a hint", async () => {
    const spec = { id: "raw", name: "raw", namespace: "default", timeoutMs: 1_000, memoryLimitMiB: 64 } as WorkloadSpec;
    const code = new TextEncoder().encode('import ms from "ms";\nexport default () => ms(1000);\n');
    await assert.rejects(engine.load(spec, code, { services: new MemoryHostServices(), log: () => undefined }), (err: NexError) => {
      assert.equal(err.code, "NEX_E_BAD_ARTIFACT");
      assert.match(err.message, /bundle it first/);
      return true;
    });
  });

  void test("v8 bundle - nex devrun bundles a .ts function and nex req runs it", async () => {
    await env.node();
    const dev = await env.cli(["devrun", UPTIME, "--trigger-subject", "uptime.cli"]);
    assert.equal(dev.code, 0, dev.stderr);
    const req = await env.cli(["req", "uptime.cli", JSON.stringify({ since: Date.now() - 90_000 })]);
    assert.equal(req.code, 0, req.stderr);
    assert.equal((JSON.parse(req.stdout) as { up: string }).up, "2 minutes");
    const bad = join(env.dir, "bad.ts");
    writeFileSync(bad, 'import { readFileSync } from "node:fs";\nexport default () => readFileSync("x");\n');
    const refused = await env.cli(["devrun", bad, "--trigger-subject", "bad"]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /NEX_E_BAD_ARTIFACT.*"node:fs" is a Node\.js module/);
  });
});
