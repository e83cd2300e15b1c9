import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../src/testkit/index.js";

// npm test builds dist/ before the tests run; this packs that build as a user would receive it.
test("package - the packed package installs into a fresh project and every entry point imports", { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "nex-pack-"));
  try {
    const npm = (args: string[], cwd: string): string => execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    npm(["pack", "--ignore-scripts", "--pack-destination", dir], REPO_ROOT);
    const tgz = readdirSync(dir).find((f) => f.endsWith(".tgz"));
    assert.ok(tgz, "npm pack wrote a tarball");
    const app = join(dir, "app");
    execFileSync("mkdir", [app]);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "scratch", version: "1.0.0", type: "module", private: true }));
    // No install scripts: the entry points must import without the native engine being built.
    npm(["install", join(dir, tgz), "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"], app);
    writeFileSync(
      join(app, "check.mjs"),
      `import * as root from "nex-ts";
import * as client from "nex-ts/client";
import * as contract from "nex-ts/contract";
import * as testkit from "nex-ts/testkit";
console.log(JSON.stringify({
  root: Object.keys(root).sort(), client: Object.keys(client).sort(), contract: Object.keys(contract).length,
  testkit: Object.keys(testkit).sort(), subject: contract.subjects.control("default", "PING"),
}));`,
    );
    const out = JSON.parse(execFileSync(process.execPath, ["check.mjs"], { cwd: app, encoding: "utf8" })) as Record<string, unknown>;
    assert.ok((out["root"] as string[]).includes("NexNode"));
    assert.ok((out["client"] as string[]).includes("NexClient"));
    assert.ok((out["testkit"] as string[]).includes("TestEnv"));
    assert.ok((out["contract"] as number) > 20);
    assert.equal(out["subject"], "$NEX.SVC.default.control.PING");
    // Deep imports stay private.
    assert.throws(() => execFileSync(process.execPath, ["-e", 'import("nex-ts/dist/node/node.js").catch(() => process.exit(3))'], { cwd: app, stdio: "ignore" }));
    const version = execFileSync(join(app, "node_modules", ".bin", "nex"), ["--version"], { cwd: app, encoding: "utf8" }).trim();
    assert.match(version, /^\d+\.\d+\.\d+/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
