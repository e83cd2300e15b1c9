import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/nats-core";
import { Kvm } from "@nats-io/kv";
import type { NexClient } from "../src/client/index.js";
import { REPO_ROOT, TestEnv, check } from "../src/testkit/index.js";
import { startHttp, type TestHttp } from "./fixtures/js/http.js";

/** A span as OTLP/HTTP JSON carries it. */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  status?: { code?: number };
  attributes: { key: string; value: Record<string, unknown> }[];
}

/** A local OTLP/HTTP receiver: every span posted to /v1/traces. */
async function startCollector(): Promise<{ url: string; spans: OtlpSpan[]; paths: string[]; close(): Promise<void> }> {
  const spans: OtlpSpan[] = [];
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => (body += d));
    req.on("end", () => {
      paths.push(req.url ?? "");
      const doc = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    paths,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function attr(s: OtlpSpan, key: string): unknown {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : Object.values(v)[0];
}

const FN = `(subject, payload) => {
  const url = new TextDecoder().decode(payload);
  const greeting = new TextDecoder().decode(kv("traced").get("greeting"));
  const r = http.get(url + "/echo");
  const answer = new TextDecoder().decode(messaging.request("traced.svc", "ping"));
  return { greeting, status: r.status, answer };
}`;

describe("tracing", () => {
  let env: TestEnv;
  let client: NexClient;
  let nc: NatsConnection;
  let web: TestHttp;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  const svcTraceparents: string[] = [];

  before(async () => {
    env = await TestEnv.start();
    collector = await startCollector();
    web = await startHttp();
    await env.node({ otlpEndpoint: collector.url, allowEgress: ["127.0.0.1"] });
    client = await env.client();
    nc = await env.nc();
    const kv = await new Kvm(nc).create("traced");
    await kv.put("greeting", "hello");
    nc.subscribe("traced.svc", {
      callback: (_err, m) => {
        svcTraceparents.push(m.headers?.get("traceparent") ?? "");
        m.respond("pong");
      },
    });
    await nc.flush();
    await env.deployJs(client, "traced", FN, ["traced"]);
  });
  after(async () => {
    await web.close();
    await collector.close();
    await env.stop();
  });

  test("tracing - a request's traceparent is continued: the invocation is its child, KV, HTTP and NATS calls the invocation's", async () => {
    const traceId = randomBytes(16).toString("hex");
    const callerSpan = randomBytes(8).toString("hex");
    const h = natsHeaders();
    h.set("traceparent", `00-${traceId}-${callerSpan}-01`);
    const reply = await nc.request("traced", web.url, { headers: h, timeout: 15_000 });
    assert.deepEqual(reply.json(), { greeting: "hello", status: 200, answer: "pong" });

    const spans = await check(() => {
      const mine = collector.spans.filter((s) => s.traceId === traceId);
      return mine.length >= 4 ? mine : undefined;
    }, 15_000);
    assert.ok(collector.paths.every((p) => p === "/v1/traces"), "a bare endpoint gets the OTLP traces path");
    const invocation = spans.find((s) => s.name === "invoke traced")!;
    assert.ok(invocation, `an invocation span among ${spans.map((s) => s.name).join(", ")}`);
    assert.equal(invocation.parentSpanId, callerSpan, "the invocation continues the caller's span");
    assert.equal(invocation.kind, 2, "a request with a reply is a server span");
    assert.equal(attr(invocation, "messaging.destination.name"), "traced");
    const kvGet = spans.find((s) => s.name === "kv.get traced")!;
    const httpGet = spans.find((s) => s.name === "GET")!;
    const request = spans.find((s) => s.name === "request traced.svc")!;
    for (const child of [kvGet, httpGet, request]) {
      assert.ok(child, `child spans: ${spans.map((s) => s.name).join(", ")}`);
      assert.equal(child.parentSpanId, invocation.spanId, `${child.name} is a child of the invocation`);
      assert.equal(child.kind, 3, `${child.name} is a client span`);
    }
    assert.equal(attr(kvGet, "nex.kv.key"), "greeting");
    assert.equal(attr(httpGet, "http.response.status_code"), 200);

    const sent = web.received.find((r) => r.path === "/echo")!;
    assert.equal(sent.headers["traceparent"], `00-${traceId}-${httpGet.spanId}-01`, "the HTTP call carries its own span");
    assert.equal(svcTraceparents.at(-1), `00-${traceId}-${request.spanId}-01`, "the NATS request carries its own span");
  });

  test("tracing - a wasm module's host calls are children of its invocation too", async () => {
    const { location, sha256 } = await client.uploadArtifact("hostcalls.wasm", readFileSync(`${REPO_ROOT}test/fixtures/wasm/hostcalls.wasm`));
    await client.deploy({ name: "traced-wasm", type: "wasm", location, sha256, triggers: ["traced.wasm"] });
    const traceId = randomBytes(16).toString("hex");
    const h = natsHeaders();
    h.set("traceparent", `00-${traceId}-${randomBytes(8).toString("hex")}-01`);
    const reply = await nc.request("traced.wasm", "kv_get\ntraced\ngreeting", { headers: h, timeout: 15_000 });
    assert.match(reply.string(), /hello/);
    const spans = await check(() => {
      const mine = collector.spans.filter((s) => s.traceId === traceId);
      return mine.length >= 2 ? mine : undefined;
    }, 15_000);
    const invocation = spans.find((s) => s.name === "invoke traced-wasm")!;
    const kvGet = spans.find((s) => s.name === "kv.get traced")!;
    assert.ok(invocation && kvGet, spans.map((s) => s.name).join(", "));
    assert.equal(kvGet.parentSpanId, invocation.spanId);
  });

  test("tracing - a failed invocation is a failed span with its error code, and a message without traceparent starts a trace", async () => {
    await env.deployJs(client, "traced-fail", `() => { throw new Error("no"); }`, ["traced.fail"]);
    await assert.rejects(client.invoke("traced.fail", ""));
    const span = await check(() => collector.spans.find((s) => s.name === "invoke traced-fail"), 15_000);
    assert.equal(span.parentSpanId ?? "", "", "a root span");
    assert.equal(span.status?.code, 2, "status ERROR");
    assert.equal(attr(span, "error.type"), "NEX_E_FUNCTION_ERROR");
  });
});
