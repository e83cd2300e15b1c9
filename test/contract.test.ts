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
  headerValue,
  parseBody,
  quote,
} from "../src/contract/index.js";
import { join } from "node:path";
import { resolveNodeOptions } from "../src/node/options.js";
import { tagsMatch } from "../src/node/tags.js";
import { collect, spawnCli } from "../src/testkit/index.js";
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
  assert.equal(subjects.logsFilter("default", undefined, undefined, "stderr"), "$NEX.FEED.default.logs.*.*.stderr");
  assert.equal(subjects.logsFilter("default", "echo", undefined, "stdout"), "$NEX.FEED.default.logs.echo.*.stdout");
  assert.equal(subjects.logsFilter("default", "echo", "ID1"), "$NEX.FEED.default.logs.echo.ID1.*");
  assert.equal(subjects.eventsFilter("default"), "$NEX.FEED.default.events.*");
  assert.equal(subjects.eventsFilter("default", "function_failed"), "$NEX.FEED.default.events.function_failed");
  assert.throws(() => subjects.eventsFilter("default", "a.>"), /invalid event type/);
  assert.equal(subjects.control("default", "INSPECT", "NABC"), "$NEX.SVC.default.control.INSPECT.NABC");
  assert.deepEqual(subjects.parseControl("$NEX.SVC.a.control.INSPECT.NABC"), { namespace: "a", verb: "INSPECT", nodeId: "NABC" });
});

test("contract - decode.inspect takes exactly one of name or id", () => {
  assert.deepEqual(decode.inspect({ name: "echo" }), { name: "echo" });
  assert.deepEqual(decode.inspect({ id: "ID1" }), { id: "ID1" });
  assert.throws(() => decode.inspect({}), /exactly one of id or name/);
  assert.throws(() => decode.inspect({ id: "a", name: "b" }), /exactly one of id or name/);
  assert.throws(() => decode.inspect({ name: "a b" }), /NEX_E_INVALID_FIELD|name/);
  assert.throws(() => decode.inspect({ name: "a", verbose: true }), /is not a field/);
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

test("contract - maxConcurrency defaults per function type, is bounded, and is refused for services", () => {
  const fn = { name: "f", location: "nats://B/k", triggers: ["f"] };
  assert.equal(decode.deploy({ ...fn, type: "v8" }).maxConcurrency, 64);
  assert.equal(decode.deploy({ ...fn, type: "wasm" }).maxConcurrency, 8);
  assert.equal(decode.deploy({ ...fn, type: "v8", maxConcurrency: 1 }).maxConcurrency, 1);
  assert.equal(decode.deploy({ ...fn, type: "v8", maxConcurrency: 4_096 }).maxConcurrency, 4_096);
  for (const bad of [0, -1, 1.5, 4_097, "8"]) {
    assert.throws(() => decode.deploy({ ...fn, type: "v8", maxConcurrency: bad }), /NEX_E_INVALID_FIELD|maxConcurrency/, String(bad));
  }
  assert.throws(() => decode.deploy({ name: "svc", type: "native", location: "file:///bin/true", maxConcurrency: 2 }), /maxConcurrency: only functions/);
  assert.equal(decode.deploy({ name: "svc", type: "native", location: "file:///bin/true" }).maxConcurrency, 1);
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

test("decode - requests are read strictly: wrong types, unknown fields and control characters are coded errors", () => {
  const code = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      return `${(err as NexError).code}: ${(err as Error).message}`;
    }
    return "ok";
  };
  assert.deepEqual(decode.lameduck({ delayMs: "30s" }), { delayMs: 30_000 });
  assert.deepEqual(decode.lameduck({ delayMs: 1500 }), { delayMs: 1500 });
  assert.deepEqual(decode.lameduck({}), { delayMs: 0 });
  assert.match(code(() => decode.lameduck({ delayMs: "soon" })), /^NEX_E_INVALID_FIELD: delayMs/);
  assert.match(code(() => decode.lameduck({ delay: 5 })), /^NEX_E_INVALID_FIELD: "delay": is not a field/);
  assert.match(code(() => decode.stop({ name: "a\r\nb" })), /^NEX_E_INVALID_FIELD: name/);
  assert.match(code(() => decode.stop({ id: "x", name: "y" })), /exactly one/);
  assert.match(code(() => decode.stop({ name: "x".repeat(600_000) })), /^NEX_E_INVALID_FIELD: name/);
  assert.deepEqual(decode.stop({ name: "echo" }), { name: "echo" });
  const base = { name: "f", type: "v8", location: "nats://B/k", triggers: ["a"] };
  assert.match(code(() => decode.deploy({ ...base, triggers: ["a\u0000b"] })), /^NEX_E_INVALID_FIELD: triggers/);
  assert.match(code(() => decode.deploy({ ...base, triggers: ["a\u0007b"] })), /^NEX_E_FORBIDDEN_SUBJECT/);
  assert.match(code(() => decode.deploy({ ...base, location: "file:///x\ny" })), /^NEX_E_INVALID_FIELD: location/);
  assert.match(code(() => decode.deploy({ ...base, location: "gopher://x" })), /^NEX_E_BAD_LOCATION/);
  assert.match(code(() => decode.deploy({ ...base, type: "lua\r\n" })), /^NEX_E_UNKNOWN_TYPE: unknown workload type "lua\\r\\n"/);
  assert.match(code(() => decode.deploy({ ...base, timeoutMs: "5s" })), /^NEX_E_INVALID_FIELD: timeoutMs/);
  assert.match(code(() => decode.deploy({ ...base, env: { A: "x".repeat(70_000) } })), /^NEX_E_INVALID_FIELD: env: must be at most/);
  assert.match(code(() => decode.deploy({ ...base, noNetwork: "yes" })), /^NEX_E_INVALID_FIELD: noNetwork/);
  assert.match(code(() => decode.auction({ type: 3 })), /^NEX_E_UNKNOWN_TYPE/);
  assert.match(code(() => parseBody(new TextEncoder().encode("[1]"))), /^NEX_E_BAD_REQUEST/);
  assert.match(code(() => parseBody(new Uint8Array([0xff, 0xfe]))), /^NEX_E_BAD_REQUEST/);
});

test("decode - a value nested deeper than JSON.stringify can follow still gets its coded error", () => {
  // Found by the control API fuzz: quoting the bad value overflowed the stack and the node answered NEX_E_INTERNAL.
  const deep = JSON.parse("[".repeat(100_000) + "]".repeat(100_000)) as unknown;
  assert.throws(() => decode.deploy({ name: "f", type: deep, location: "nats://B/k" }), (e: NexError) => e.code === "NEX_E_UNKNOWN_TYPE" && e.message.length < 200);
  assert.throws(() => decode.auction({ type: { a: deep } }), (e: NexError) => e.code === "NEX_E_UNKNOWN_TYPE");
  assert.equal(quote([1, "two", { three: 3 }, 4]), '"[1,\\"two\\",{\\"three\\":3},…]"');
});

test("decode - map keys such as __proto__ are kept as sent, so a tag filter is never widened", () => {
  // Found by the control API fuzz: `out["__proto__"] = v` set a prototype and dropped the entry.
  const body = parseBody(new TextEncoder().encode('{"tags":{"__proto__":"x","zone":"eu"}}'));
  const { tags } = decode.ping(body);
  assert.deepEqual(Object.keys(tags ?? {}), ["__proto__", "zone"]);
  assert.equal(tagsMatch({ zone: "eu" }, tags), false, "a node without the tag does not match");
  const spec = decode.deploy(parseBody(new TextEncoder().encode('{"name":"s","type":"native","location":"nats://B/k","env":{"__proto__":"1"}}')));
  assert.equal(Object.getOwnPropertyDescriptor(spec.env, "__proto__")?.value, "1");
});

test("decode - durations and error texts carry no control characters", () => {
  // Found by the control API fuzz: "30s\n" was trimmed into 30 s, and C1, bidi and line-separator characters of a
  // request reached the error header.
  assert.throws(() => decode.lameduck({ delayMs: "30s\n" }), /delayMs: must not contain control characters/);
  assert.deepEqual(decode.lameduck({ delayMs: " 30s " }), { delayMs: 30_000 });
  assert.equal(quote("a\u0085b\u202ec\u2028d\u007f"), '"a\\u0085b\\u202ec\\u2028d\\u007f"');
  assert.equal(headerValue("a\r\nb\u0085c\u202ed\u2028e\ud800"), "a b c d e ");
  assert.equal(headerValue(`${"x".repeat(255)}😀`), `${"x".repeat(255)} …`, "a pair cut in two leaves no lone surrogate");
});

test("subjects - control, log and event subjects parse back into their parts", () => {
  assert.deepEqual(subjects.parseControl("$NEX.SVC.a.control.DEPLOY.N1"), { namespace: "a", verb: "DEPLOY", nodeId: "N1" });
  assert.deepEqual(subjects.parseControl("$NEX.SVC.a.control.PING"), { namespace: "a", verb: "PING" });
  assert.equal(subjects.parseControl("$NEX.SVC.a.control.HACK"), undefined);
  assert.equal(subjects.parseControl("$NEX.SVC.a.b.control.PING"), undefined);
  assert.deepEqual(subjects.parseLogs(subjects.logs("a", "echo", "ID", "stderr")), { namespace: "a", name: "echo", id: "ID", stream: "stderr" });
  assert.deepEqual(subjects.parseEvent(subjects.event("a", "workload_deployed")), { namespace: "a", type: "workload_deployed" });
});

test("options - node options and CLI flags refuse non-numbers, zero and negatives, naming the option", async () => {
  const base = { connection: { servers: ["nats://127.0.0.1:1"] } };
  assert.throws(() => resolveNodeOptions({ ...base, maxWorkloads: Number("abc") }), /NEX_E_INVALID_FIELD|max-workloads/);
  assert.throws(() => resolveNodeOptions({ ...base, tunables: { maxInFlight: 0 } }), /maxInFlight/);
  assert.equal(resolveNodeOptions(base).tunables.maxInFlight, 1_000);
  const bad = await collect(spawnCli(["node", "up", "--max-workloads", "abc", "-s", "nats://127.0.0.1:1"]), 20_000);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /NEX_E_INVALID_FIELD: --max-workloads: must be an integer/);
  const neg = await collect(spawnCli(["node", "up", "--heartbeat", "-5s", "-s", "nats://127.0.0.1:1"]), 20_000);
  assert.match(neg.stderr, /NEX_E_INVALID_FIELD: --heartbeat/);
});

test("cli - devrun refuses an unknown type, a missing trigger or a bad subject before it uploads anything", async () => {
  // No NATS server listens at this address: every refusal must come before a connection is even tried.
  const env = { NATS_URL: "nats://127.0.0.1:1" };
  const fn = join(REPO_ROOT, "examples", "js", "echo.js");
  const lua = await collect(spawnCli(["devrun", fn, "--type", "lua", "--trigger-subject", "x"], env), 20_000);
  assert.match(lua.stderr, /NEX_E_UNKNOWN_TYPE: unknown workload type "lua"/);
  const noTrigger = await collect(spawnCli(["devrun", fn], env), 20_000);
  assert.match(noTrigger.stderr, /NEX_E_INVALID_FIELD: triggers: a function needs at least one trigger subject/);
  const reserved = await collect(spawnCli(["devrun", fn, "--trigger-subject", "$SYS.x"], env), 20_000);
  assert.match(reserved.stderr, /NEX_E_FORBIDDEN_SUBJECT/);
  const timeout = await collect(spawnCli(["devrun", fn, "--trigger-subject", "x", "--timeout-ms", "fast"], env), 20_000);
  assert.match(timeout.stderr, /NEX_E_INVALID_FIELD: --timeout-ms/);
  const concurrency = await collect(spawnCli(["devrun", fn, "--trigger-subject", "x", "--max-concurrency", "0"], env), 20_000);
  assert.match(concurrency.stderr, /NEX_E_INVALID_FIELD: --max-concurrency: must be an integer of at least 1/);
});
