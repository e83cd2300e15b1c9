import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createUser } from "@nats-io/nkeys";
import type { NatsConnection } from "@nats-io/nats-core";
import type { NexClient } from "../src/client/index.js";
import { NexError } from "../src/contract/index.js";
import { ArtifactStore, resolveFileDirs } from "../src/node/artifacts.js";
import { TestEnv, check } from "../src/testkit/index.js";
import { EventCollector, LogCollector, processesMentioning } from "./helpers/native.js";

const sha = (b: string | Uint8Array): string => createHash("sha256").update(b).digest("hex");
const mode = (path: string): number => statSync(path).mode & 0o777;

void describe("artifacts", () => {
  let env: TestEnv;
  let nc: NatsConnection;

  before(async () => {
    env = await TestEnv.start();
    nc = await env.nc();
  });
  after(async () => env.stop());

  /** A store as a node builds it, reading file:// artifacts from the test's own directory. */
  const storeAt = (cacheDir: string): ArtifactStore =>
    new ArtifactStore({ connect: async () => nc, cacheDir, maxBytes: 1_048_576, allowFileDirs: resolveFileDirs([env.dir]) });

  void test("artifacts - a damaged cache file is replaced with verified bytes in one rename, and never handed out", async () => {
    const cacheDir = join(env.dir, "cache-heal");
    const store = storeAt(cacheDir);
    const good = "(s, p) => p\n";
    const location = env.file("heal.js", good);
    const first = await store.fetch("default", location, sha(good));
    const cached = join(cacheDir, "default", sha(good));
    assert.equal(first.path, cached);
    writeFileSync(cached, "(s, p) => 'damaged'\n");
    const damagedInode = statSync(cached).ino;

    const again = await store.fetch("default", location, sha(good));
    assert.equal(Buffer.from(again.bytes).toString(), good, "the bytes handed out are the verified ones");
    assert.equal(readFileSync(cached, "utf8"), good, "the file on disk was healed");
    assert.notEqual(statSync(cached).ino, damagedInode, "by a rename over it, not by writing into it");
    assert.deepEqual(readdirSync(join(cacheDir, "default")), [sha(good)], "no temporary file is left behind");

    writeFileSync(cached, "damaged again");
    writeFileSync(new URL(location), "the source changed too");
    await assert.rejects(store.fetch("default", location, sha(good)), (e: unknown) => e instanceof NexError && e.code === "NEX_E_HASH_MISMATCH");
    assert.equal(readFileSync(cached, "utf8"), "damaged again", "nothing unverified was written");
  });

  void test("artifacts - cache files are 0600, 0700 when the node executes them, in a 0700 directory", async () => {
    const cacheDir = join(env.dir, "cache-modes");
    const store = storeAt(cacheDir);
    const plain = await store.fetch("default", env.file("plain.js", "() => 1"), sha("() => 1"));
    const exec = await store.fetch("default", env.file("tool.sh", "#!/bin/sh\necho hi\n"), sha("#!/bin/sh\necho hi\n"), { executable: true });
    assert.equal(mode(cacheDir), 0o700);
    assert.equal(mode(plain.path), 0o600);
    assert.equal(mode(exec.path), 0o700);
    // A cache written by an older node (0755) is narrowed when it is next used.
    const { chmodSync } = await import("node:fs");
    chmodSync(plain.path, 0o755);
    await store.fetch("default", "file:///nonexistent", sha("() => 1"));
    assert.equal(mode(plain.path), 0o700, "group and others lose every bit; the owner keeps the execute bit it had");
  });

  void test("artifacts - checkedPath rewrites a cache file damaged after the fetch, before it is executed", async () => {
    const cacheDir = join(env.dir, "cache-check");
    const store = storeAt(cacheDir);
    const body = "#!/bin/sh\necho good\n";
    const a = await store.fetch("default", env.file("check.sh", body), sha(body), { executable: true });
    writeFileSync(a.path, "#!/bin/sh\necho evil\n");
    assert.equal(a.checkedPath(), a.path);
    assert.equal(readFileSync(a.path, "utf8"), body);
    assert.equal(mode(a.path), 0o700);
  });

  void test("artifacts - a native service whose cached artifact is damaged runs the verified bytes, on restore and on restart", async () => {
    const dataDir = join(env.dir, "heal-node");
    const seedFile = join(env.dir, "heal-node.nk");
    const opts = { dataDir, seedFile, sandbox: false, types: ["native" as const], warmRunners: false };
    const script = `#!/bin/sh\necho "healthy $$"\nexec sleep 600\n`;
    const location = env.file("healthy.sh", script);
    const client: NexClient = await env.client();
    const logs = new LogCollector(nc, "default", "healthy");
    const events = new EventCollector(nc, "default");
    try {
      let node = await env.node(opts);
      const { id } = await client.deploy({ name: "healthy", type: "native", location, sha256: sha(script), restart: "always" }, { node: node.id });
      await logs.waitFor(/^healthy \d+$/);
      await node.stop();
      const cached = join(dataDir, "artifacts", "default", sha(script));
      writeFileSync(cached, "#!/bin/sh\necho corrupt\nexit 7\n");

      logs.lines.length = 0;
      node = await env.node(opts);
      await logs.waitFor(/^healthy \d+$/, 20_000);
      assert.equal(readFileSync(cached, "utf8"), script, "the restore refetched and rewrote the cache file");
      assert.equal(mode(cached), 0o700, "executed in place by the node: owner-only, executable");

      // Damaged while the service runs: its next start checks the file first.
      writeFileSync(cached, "#!/bin/sh\necho corrupt\nexit 7\n");
      logs.lines.length = 0;
      for (const pid of processesMentioning(id)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone between the listing and the kill
        }
      }
      await logs.waitFor(/^healthy \d+$/, 20_000);
      assert.ok(!logs.lines.some((l) => l.line.includes("corrupt")), logs.text());
      assert.equal(readFileSync(cached, "utf8"), script);
      await check(() => events.of("workload_deployed").length >= 2);
    } finally {
      logs.close();
    }
  });

  void test("artifacts - a deploy from a file holding a secret never returns, logs or announces its content", async () => {
    const seed = new TextDecoder().decode(createUser().getSeed());
    const location = pathToFileURL(join(env.dir, "user.nk")).href;
    writeFileSync(new URL(location), `${seed}\n`);
    await env.node({ sandbox: false });
    const client = await env.client();
    const logs = new LogCollector(nc, "default", "leak");
    const events = new EventCollector(nc, "default");
    const messages: string[] = [];
    try {
      for (const type of ["v8", "wasm", "native"] as const) {
        const err = await client.deploy({ name: "leak", type, location, triggers: type === "native" ? [] : ["leak"] }).then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.ok(err instanceof NexError, type);
        assert.equal(err.code, "NEX_E_BAD_ARTIFACT", `${type}: ${err.message}`);
        messages.push(err.message);
      }
      await check(() => events.of("workload_failed").length >= 3);
      const seen = [...messages, ...events.events.map((e) => JSON.stringify(e)), logs.text()].join("\n");
      assert.ok(!seen.includes(seed.slice(0, 12)), seen);
      assert.match(messages[0]!, /ReferenceError at line 1, column 1/, "the v8 error still says what and where");
    } finally {
      logs.close();
    }
  });
});
