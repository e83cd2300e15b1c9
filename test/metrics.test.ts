import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/nats-core";
import type { NexClient } from "../src/client/index.js";
import { subjects } from "../src/contract/index.js";
import type { NexNode } from "../src/node/node.js";
import { TestEnv, check } from "../src/testkit/index.js";

/** One sample line of the Prometheus text format: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: m[3] === "+Inf" ? Infinity : Number(m[3]) });
  }
  return out;
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  return parse(await res.text());
}

const FN = `(subject, payload) => {
  const text = new TextDecoder().decode(payload);
  if (text === "boom") throw new Error("boom asked for");
  return "ok:" + text;
}`;

describe("metrics", () => {
  let env: TestEnv;
  let node: NexNode;
  let client: NexClient;
  let nc: NatsConnection;
  const fn = { namespace: "default", name: "metered", type: "v8" };

  before(async () => {
    env = await TestEnv.start();
    node = await env.node({ metricsPort: 0 });
    client = await env.client();
    nc = await env.nc();
    await env.deployJs(client, "metered", FN, ["metered"]);
  });
  after(async () => env.stop());

  test("metrics - /metrics counts invocations, failures by code and durations per workload", async () => {
    for (let i = 0; i < 5; i++) assert.equal((await client.invoke("metered", `n${i}`)).string(), `ok:n${i}`);
    await assert.rejects(client.invoke("metered", "boom"), (e: Error & { code?: string }) => e.code === "NEX_E_FUNCTION_ERROR");
    const url = node.metricsUrl!;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, "loopback by default");
    const s = await scrape(url);
    assert.equal(value(s, "nex_function_invocations_total", fn), 6);
    assert.equal(value(s, "nex_function_failures_total", { ...fn, code: "NEX_E_FUNCTION_ERROR" }), 1);
    assert.equal(value(s, "nex_function_duration_seconds_count", fn), 6);
    assert.equal(value(s, "nex_function_duration_seconds_bucket", { ...fn, le: "+Inf" }), 6);
    const buckets = s.filter((x) => x.name === "nex_function_duration_seconds_bucket" && x.labels["name"] === "metered").map((x) => x.value);
    assert.ok(buckets.length > 10, "the histogram has its buckets");
    assert.deepEqual([...buckets].sort((a, b) => a - b), buckets, "bucket counts are cumulative");
    assert.ok((value(s, "nex_function_duration_seconds_sum", fn) ?? 0) > 0);
    assert.equal(value(s, "nex_function_in_flight", fn), 0);
    assert.equal(value(s, "nex_node_workloads", { namespace: "default", type: "v8" }), 1);
    assert.ok((value(s, "nex_node_runners", { type: "v8" }) ?? 0) >= 1);
    assert.ok((value(s, "nex_runner_resident_memory_bytes", { namespace: "default", type: "v8" }) ?? 0) > 10 * 1024 * 1024);
    assert.equal(value(s, "nex_node_nats_reconnects_total", {}), 0);
    assert.equal(value(s, "nex_node_info", { node_id: node.id }), 1);
    assert.ok(s.some((x) => x.name === "process_resident_memory_bytes"), "the node process's own metrics come along");
    assert.ok(!s.some((x) => "id" in x.labels || "workload_id" in x.labels), "no instance ids in labels");
  });

  test("metrics - a redeploy keeps the counters of the instance it replaced", async () => {
    const before = value(await scrape(node.metricsUrl!), "nex_function_invocations_total", fn)!;
    await env.deployJs(client, "metered", FN, ["metered"]);
    await client.invoke("metered", "again");
    const s = await scrape(node.metricsUrl!);
    assert.equal(value(s, "nex_function_invocations_total", fn), before + 1);
    assert.equal(value(s, "nex_function_failures_total", { ...fn, code: "NEX_E_FUNCTION_ERROR" }), 1);
    assert.equal(value(s, "nex_function_duration_seconds_count", fn), before + 1);
    assert.equal(value(s, "nex_node_workloads", { namespace: "default", type: "v8" }), 1);
  });

  test("metrics - LIST carries the last minute's p50 and p99 latency", async () => {
    for (let i = 0; i < 20; i++) await client.invoke("metered", "x");
    const [w] = await client.list({ name: "metered" });
    assert.ok(w?.latencyMs, "latencyMs is filled");
    assert.ok(w.latencyMs.p50 > 0 && w.latencyMs.p50 <= w.latencyMs.p99, JSON.stringify(w.latencyMs));
  });

  test("metrics - only /metrics is served", async () => {
    const res = await fetch(node.metricsUrl!.replace(/\/metrics$/, "/other"));
    assert.equal(res.status, 404);
  });

  test("metrics - a node serves no metrics unless asked", async () => {
    const plain = await env.node({ namespaces: ["nometrics"] });
    assert.equal(plain.metricsUrl, undefined);
  });

  test("metrics - $SRV.STATS.nex-node counts error replies of the control API", async () => {
    const stats = async (): Promise<{ name: string; num_errors: number; num_requests: number; last_error?: string; processing_time: number }[]> => {
      const admin = await env.adminNc();
      const m = await admin.request(subjects.srv("STATS", "nex-node"), "", { timeout: 5_000 });
      return (m.json<{ id: string; endpoints: never[] }>()).endpoints;
    };
    const before = (await stats()).find((e) => e.name === "stop")!;
    const r = await nc.request(subjects.control("default", "STOP", node.id), JSON.stringify({ name: "no-such-workload" }), { timeout: 5_000 });
    assert.equal(r.headers?.get("Nats-Service-Error-Code"), "404");
    const after = await check(async () => {
      const e = (await stats()).find((x) => x.name === "stop")!;
      return e.num_errors > before.num_errors ? e : undefined;
    });
    assert.equal(after.num_errors, before.num_errors + 1);
    assert.equal(after.num_requests, before.num_requests + 1);
    assert.match(after.last_error ?? "", /^404:/);
    assert.ok(after.processing_time > 0, "processing time counts the asynchronous handling");
  });
});
