import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  ERRORS,
  NexError,
  VERSION,
  subjects,
  triggerSubjectProblem,
  typeFromFileName,
  decode,
} from "../src/contract/index.js";
import { errorsMarkdown } from "../src/contract/errors-doc.js";
import { REPO_ROOT } from "../src/testkit/index.js";
import { nameFromFile } from "../src/cli/commands/deploy.js";
import { resolveConnection, workloadNatsUrl } from "../src/nats/connect.js";

test("subjects - control subjects are built from validated tokens", () => {
  assert.equal(subjects.control("default", "PING"), "$NEX.SVC.default.control.PING");
  assert.equal(subjects.control("*", "DEPLOY", "NABC"), "$NEX.SVC.*.control.DEPLOY.NABC");
  assert.throws(() => subjects.control("a.b", "PING"), /invalid namespace/);
  assert.throws(() => subjects.control("default", "STOP", "x>"), /invalid node id/);
  assert.equal(subjects.logs("default", "echo", "ID1", "stderr"), "$NEX.FEED.default.logs.echo.ID1.stderr");
  assert.equal(subjects.logsFilter("default", "echo"), "$NEX.FEED.default.logs.echo.>");
  assert.equal(subjects.event("system", "node_started"), "$NEX.FEED.system.events.node_started");
  assert.throws(() => subjects.logs("default", "a*", "x", "stdout"));
});

test("subjects - trigger subjects under reserved prefixes or with bad wildcards are refused", () => {
  for (const ok of ["echo", "devices.*.temp", "orders.>", "a-b_c.d"]) assert.equal(triggerSubjectProblem(ok), undefined, ok);
  for (const bad of ["", "$SYS.x", "$sys.x", "$JS.API", "$NEX.x", "$SRV.PING", "_INBOX.x", "$KV.b.k", ">", "*", "*.x", "a.>.b", "a..b", "a b", "a*b"]) {
    assert.ok(triggerSubjectProblem(bad), `"${bad}" is refused`);
  }
});

test("contract - decode.deploy fills defaults and names the bad field", () => {
  const spec = decode.deploy({ name: "echo", type: "v8", location: "nats://B/k", triggers: ["echo"] }, "default");
  assert.equal(spec.timeoutMs, 5_000);
  assert.equal(spec.memoryLimitMiB, 64);
  assert.equal(spec.lifecycle, "function");
  const svc = decode.deploy({ name: "svc", type: "native", location: "file:///bin/true" });
  assert.equal(svc.lifecycle, "service");
  assert.equal(svc.restart, "on-failure");
  assert.throws(() => decode.deploy({ name: "svc", type: "native", location: "file:///x", triggers: ["a"] }), /triggers/);
  assert.throws(() => decode.deploy({ name: "x", type: "v8", location: "file:///x", triggers: ["a"], namespace: "other" }, "default"), /namespace/);
  assert.throws(() => decode.deploy({ name: "x", type: "lua", location: "file:///x" }), (e: NexError) => e.code === "NEX_E_UNKNOWN_TYPE");
});

test("contract - the type is detected from the file extension", () => {
  assert.equal(typeFromFileName("echo.js"), "v8");
  assert.equal(typeFromFileName("fn.mjs"), "v8");
  assert.equal(typeFromFileName("fn.ts"), "v8");
  assert.equal(typeFromFileName("echo.wasm"), "wasm");
  assert.equal(typeFromFileName("./echo"), "native");
  assert.equal(nameFromFile("./examples/js/echo.js"), "echo");
  assert.equal(nameFromFile("my file.v2.wasm"), "my-file-v2");
});

test("errors - the table, the docs page and the exported type agree", () => {
  const doc = readFileSync(`${REPO_ROOT}docs/errors.md`, "utf8");
  assert.equal(doc, errorsMarkdown(), "docs/errors.md is stale: run `npx tsx scripts/errors-doc.ts`");
  for (const [code, spec] of Object.entries(ERRORS)) {
    assert.match(code, /^NEX_E_[A-Z_]+$/);
    assert.ok(spec.status >= 400 && spec.status < 600);
    const e = new NexError(code as keyof typeof ERRORS);
    assert.deepEqual(NexError.fromBody(e.toBody()).toBody(), e.toBody(), "round-trips over the wire");
  }
  assert.equal(NexError.fromBody({ code: "NOPE", message: "m" }).code, "NEX_E_INTERNAL");
});

test("contract - the version matches package.json", () => {
  const pkg = JSON.parse(readFileSync(`${REPO_ROOT}package.json`, "utf8")) as { version: string };
  assert.equal(VERSION, pkg.version);
});

test("connection - flags and NATS_URL resolve like the nats CLI", () => {
  assert.deepEqual(resolveConnection({}, {}).servers, ["nats://127.0.0.1:4222"]);
  assert.deepEqual(resolveConnection({}, { NATS_URL: "nats://a:1, nats://b:2" }).servers, ["nats://a:1", "nats://b:2"]);
  assert.deepEqual(resolveConnection({ server: "nats://c:3" }, { NATS_URL: "nats://a:1" }).servers, ["nats://c:3"]);
  const c = resolveConnection({ user: "u", password: "p w", tlsca: "/ca.pem" }, {});
  assert.equal(c.user, "u");
  assert.deepEqual(c.tls, { certFile: undefined, keyFile: undefined, caFile: "/ca.pem" });
  assert.equal(workloadNatsUrl({ servers: ["nats://127.0.0.1:4222"], user: "u", password: "p w" }), "nats://u:p%20w@127.0.0.1:4222");
  assert.equal(workloadNatsUrl({ servers: ["127.0.0.1:4222"], token: "t" }), "nats://t@127.0.0.1:4222");
});
