import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { errorFromReply, type NexClient } from "../src/client/index.js";
import { subjects, type ErrorCode, type ListReply, type NodeInfo } from "../src/contract/index.js";
import { TestEnv } from "../src/testkit/index.js";
import type { NexNode } from "../src/node/node.js";

describe("control API", () => {
  let env: TestEnv;
  let node: NexNode;
  let client: NexClient;
  let nc: NatsConnection;
  let echoLocation: string;

  before(async () => {
    env = await TestEnv.start();
    node = await env.node();
    client = await env.client();
    nc = await env.nc();
    echoLocation = env.file("echo.js", `(s, p) => "echo:" + String.fromCharCode(...p)`);
    await client.deploy({ name: "echo", type: "v8", location: echoLocation, triggers: ["echo"] });
  });
  after(async () => env.stop());

  async function deployRaw(body: string | object): Promise<Msg> {
    return nc.request(subjects.control("default", "DEPLOY", node.id), typeof body === "string" ? body : JSON.stringify(body), { timeout: 10_000 });
  }

  async function expectCode(body: string | object, code: ErrorCode, status: string): Promise<void> {
    const m = await deployRaw(body);
    assert.equal(m.headers?.get("Nats-Service-Error-Code"), status, `status for ${JSON.stringify(body)}`);
    assert.ok(m.headers?.get("Nats-Service-Error"), "the micro error header carries the message");
    const err = errorFromReply(m);
    assert.equal(err?.code, code, `code for ${JSON.stringify(body)}: ${err?.message}`);
    assert.ok(err?.hint.length, "the body carries a hint");
  }

  const valid = () => ({ name: "fn", type: "v8", location: echoLocation, triggers: ["fn"] });

  test("control API - bad JSON is refused with NEX_E_BAD_REQUEST", async () => {
    await expectCode("{not json", "NEX_E_BAD_REQUEST", "400");
    await expectCode("[1,2]", "NEX_E_BAD_REQUEST", "400");
  });

  test("control API - an unknown type is refused with NEX_E_UNKNOWN_TYPE", async () => {
    await expectCode({ ...valid(), type: "python" }, "NEX_E_UNKNOWN_TYPE", "400");
  });

  test("control API - missing or invalid fields are named in NEX_E_INVALID_FIELD", async () => {
    const { name: _n, ...noName } = valid();
    await expectCode(noName, "NEX_E_INVALID_FIELD", "400");
    const { location: _l, ...noLocation } = valid();
    await expectCode(noLocation, "NEX_E_INVALID_FIELD", "400");
    await expectCode({ ...valid(), triggers: [] }, "NEX_E_INVALID_FIELD", "400");
    await expectCode({ ...valid(), name: "bad name!" }, "NEX_E_INVALID_FIELD", "400");
    await expectCode({ ...valid(), timeoutMs: -5 }, "NEX_E_INVALID_FIELD", "400");
    await expectCode({ ...valid(), env: { A: 1 } }, "NEX_E_INVALID_FIELD", "400");
  });

  test("control API - bad artifact locations are refused", async () => {
    await expectCode({ ...valid(), location: "ftp://example/x.js" }, "NEX_E_BAD_LOCATION", "400");
    await expectCode({ ...valid(), location: "file:///definitely/not/here.js" }, "NEX_E_ARTIFACT_FETCH", "502");
    await expectCode({ ...valid(), location: "nats://NO_SUCH_BUCKET/x.js" }, "NEX_E_ARTIFACT_FETCH", "502");
    await expectCode({ ...valid(), location: "http://127.0.0.1:1/x.js" }, "NEX_E_ARTIFACT_FETCH", "502");
  });

  test("control API - a sha256 mismatch is refused", async () => {
    await expectCode({ ...valid(), sha256: "0".repeat(64) }, "NEX_E_HASH_MISMATCH", "409");
  });

  test("control API - reserved or malformed trigger subjects are refused", async () => {
    for (const t of ["$SYS.x", "$JS.API.>", "$NEX.SVC.x", "$SRV.PING", "_INBOX.abc", ">", "*.foo", "a..b", "a b", "a.>.b"]) {
      await expectCode({ ...valid(), triggers: [t] }, "NEX_E_FORBIDDEN_SUBJECT", "400");
    }
  });

  test("control API - a script that is not a function is refused as a bad artifact", async () => {
    await expectCode({ ...valid(), location: env.file("notfn.js", "42") }, "NEX_E_BAD_ARTIFACT", "422");
    await expectCode({ ...valid(), location: env.file("syntax.js", "(s, p) => {") }, "NEX_E_BAD_ARTIFACT", "422");
  });

  test("control API - stop of an unknown workload is NEX_E_NOT_FOUND, INFO of an unknown node gets no responders", async () => {
    const m = await nc.request(subjects.control("default", "STOP", node.id), JSON.stringify({ name: "ghost" }), { timeout: 5_000 });
    assert.equal(errorFromReply(m)?.code, "NEX_E_NOT_FOUND");
    await assert.rejects(client.info("NOSUCHNODE"), (e: Error & { code?: string }) => e.code === "NEX_E_NODE_NOT_FOUND");
  });

  test("control API - a targeted PING the node does not match and a targeted LIST of a namespace it does not serve are answered, not met with silence", async () => {
    // Found by the control API fuzz: both were declined the way a broadcast is, and the sender waited for its timeout.
    const ping = await nc.request(subjects.control("default", "PING", node.id), JSON.stringify({ tags: { zone: "nowhere" } }), { timeout: 5_000 });
    assert.equal(errorFromReply(ping)?.code, "NEX_E_NODE_NOT_FOUND");
    const admin = await env.adminNc();
    const list = await admin.request(subjects.control("ghost", "LIST", node.id), "{}", { timeout: 5_000 });
    assert.equal(errorFromReply(list)?.code, "NEX_E_NODE_NOT_FOUND");
    // On the broadcast subjects the node stays silent, and the sender just sees no node.
    assert.deepEqual(await client.ping({ zone: "nowhere" }), []);
  });

  test("control API - a file:// location with an encoded slash is a bad location, and a type nested 100,000 deep an unknown type", async () => {
    // Found by the control API fuzz: both were answered NEX_E_INTERNAL.
    await expectCode({ ...valid(), location: "file:///tmp/a%2fb.js" }, "NEX_E_BAD_LOCATION", "400");
    await expectCode(`{"name":"fn","type":${"[".repeat(100_000)}${"]".repeat(100_000)},"location":"nats://B/k"}`, "NEX_E_UNKNOWN_TYPE", "400");
  });

  test("control API - error headers are printable whatever the request held", async () => {
    // Found by the control API fuzz: C1 controls, bidi overrides and line separators of a field name reached the header.
    const m = await deployRaw({ ...valid(), "\u0085\u202e\u2028\u009b31m": 1 });
    assert.equal(errorFromReply(m)?.code, "NEX_E_INVALID_FIELD");
    assert.match(m.headers?.get("Nats-Service-Error") ?? "", /^[\x20-\x7e…]+$/);
  });

  test("control API - after all the bad requests, nothing else is disturbed", async () => {
    assert.equal((await client.invoke("echo", "ok")).string(), "echo:ok");
    const info = await client.request<NodeInfo>("INFO", node.id, {});
    assert.equal(info.state, "running");
    assert.deepEqual(info.workloadList.map((w) => w.name), ["echo"]);
  });

  test("control API - $SRV discovery finds the node as a micro service", async () => {
    // Discovery is the control plane's: nodes live in the nex account.
    const admin = await env.adminNc();
    const m = await admin.request("$SRV.INFO.nex-node", "", { timeout: 5_000 });
    const info = m.json<{ name: string; metadata: Record<string, string>; endpoints: { subject: string }[] }>();
    assert.equal(info.name, "nex-node");
    assert.equal(info.metadata["node_id"], node.id);
    assert.ok(info.endpoints.some((e) => e.subject === subjects.control("*", "DEPLOY", node.id)));
    const ping = await admin.request("$SRV.PING.nex-node", "", { timeout: 5_000 });
    assert.equal(ping.json<{ name: string }>().name, "nex-node");
    const stats = await admin.request("$SRV.STATS.nex-node", "", { timeout: 5_000 });
    const s = stats.json<{ endpoints: { name: string; num_requests: number }[] }>();
    const deploy = s.endpoints.find((e) => e.name === "deploy");
    assert.ok(deploy && deploy.num_requests > 0, "requests are counted in micro stats");
  });
});

describe("control API, lists larger than one message", () => {
  let env: TestEnv;
  let client: NexClient;

  before(async () => {
    // A small max_payload, so that a few dozen workloads no longer fit in one LIST reply.
    env = await TestEnv.start({ extraConfig: () => "max_payload: 16384" });
    await env.node({ insecure: true });
    client = await env.client();
  });
  after(async () => env.stop());

  test("control - a node whose LIST does not fit in one message answers in pages, and nex ls shows every workload", async () => {
    const names = Array.from({ length: 60 }, (_, i) => `paged-${String(i).padStart(2, "0")}`);
    for (const name of names) await env.deployJs(client, name, `() => "ok"`, [`paged.${name}`]);
    const nc = await env.nc();
    const first = JSON.parse((await nc.request(subjects.control("default", "LIST"), "{}", { timeout: 5_000 })).string()) as ListReply;
    assert.ok(first.next !== undefined && first.next > 0, "the first reply says where the rest starts");
    assert.ok(first.workloads.length < names.length);
    const list = await client.list();
    assert.deepEqual(list.map((w) => w.name), names, "every workload once, in order");
    const status = await client.status();
    assert.deepEqual(status.desired.map((d) => d.name), names, "the desired workloads come through the pages too");
    const ls = await env.cli(["ls", "--json"]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.equal((JSON.parse(ls.stdout) as unknown[]).length, names.length);
  });
});
