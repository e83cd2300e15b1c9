import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import type { NatsConnection } from "@nats-io/nats-core";
import { subjects, type NexEvent, type WorkloadInspection } from "../src/contract/index.js";
import { TestEnv, check, collect, waitForOutput } from "../src/testkit/index.js";

const FN = `(subject, payload) => {
  const text = new TextDecoder().decode(payload);
  console.log("out:" + text);
  console.error("err:" + text);
  if (text === "boom") throw new TypeError("boom asked for");
  return "ok:" + text;
}`;

describe("inspect and feed filters (CLI)", () => {
  let env: TestEnv;
  let node: ChildProcess;
  let nodeId: string;
  let metricsUrl: string;
  let ncB: NatsConnection;
  const started = new Date();

  before(async () => {
    env = await TestEnv.start({ namespaces: ["other"] });
    node = env.spawnCli(["node", "up", "--name", "inspected", "--data-dir", join(env.dir, "node"), "--metrics-port", "0"]);
    const banner = await waitForOutput(node, /metrics: +(http:\S+)/);
    metricsUrl = /metrics: +(http:\S+)/.exec(banner)![1]!;
    nodeId = /id: +(N[A-Z0-9]+)/.exec(banner)![1]!;
    const fn = join(env.dir, "probe.js");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(fn, FN, { mode: 0o644 });
    const dev = await env.cli(["devrun", fn, "--trigger-subject", "probe", "-e", "SECRET=hunter2", "-e", "MODE=test"]);
    assert.equal(dev.code, 0, dev.stderr);
    for (const p of ["a1", "a2", "boom"]) await env.cli(["req", "probe", p]);
    ncB = await env.nc("other");
  });
  after(async () => {
    node.kill("SIGTERM");
    await collect(node, 10_000);
    await env.stop();
  });

  test("inspect - nex node up --metrics-port serves the node's metrics", async () => {
    const text = await (await fetch(metricsUrl)).text();
    assert.match(text, /nex_function_invocations_total\{namespace="default",name="probe",type="v8"\} 3/);
  });

  test("inspect - nex inspect shows the spec with env values masked, the instances, recent invocations and the last error's stack", async () => {
    const r = await env.cli(["inspect", "probe"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /probe in namespace default/);
    assert.match(r.stdout, /env +MODE=\*\*\* SECRET=\*\*\*|env +SECRET=\*\*\* MODE=\*\*\*/);
    assert.doesNotMatch(r.stdout, /hunter2/, "no env value is shown");
    assert.match(r.stdout, /triggers +probe/);
    assert.match(r.stdout, new RegExp(`INSTANCES\\n.*\\n${nodeId.slice(0, 12)} .* running `));
    assert.match(r.stdout, /RECENT INVOCATIONS \(3, newest last\)/);
    assert.match(r.stdout, / probe +[\d.]+ (µs|ms) +ok\n.* probe +[\d.]+ (µs|ms) +ok\n.* probe +[\d.]+ (µs|ms) +NEX_E_FUNCTION_ERROR\n/);
    assert.match(r.stdout, /RECENT ERRORS \(1, newest last\)\n.* probe NEX_E_FUNCTION_ERROR: TypeError: boom asked for\n +TypeError: boom asked for\n +at /);

    const json = await env.cli(["inspect", "probe", "--json"]);
    const list = JSON.parse(json.stdout) as WorkloadInspection[];
    assert.equal(list.length, 1);
    const w = list[0]!;
    assert.equal(w.nodeId, nodeId);
    assert.deepEqual(w.spec.env, { SECRET: "***", MODE: "***" });
    assert.deepEqual(w.recentInvocations.map((i) => [i.subject, i.outcome]), [["probe", "ok"], ["probe", "ok"], ["probe", "NEX_E_FUNCTION_ERROR"]]);
    assert.ok(w.recentInvocations.every((i) => i.durationMs > 0 && !Number.isNaN(Date.parse(i.time))));
    assert.equal(w.recentErrors.length, 1);
    assert.match(w.recentErrors[0]!.stack ?? "", /^TypeError: boom asked for\n\s+at /);
    assert.ok(w.latencyMs && w.latencyMs.p50 > 0, "the last minute's latency");
  });

  test("inspect - nex ls --json carries latencyMs", async () => {
    const ls = JSON.parse((await env.cli(["ls", "--json"])).stdout) as { name: string; latencyMs?: { p50: number; p99: number } }[];
    const w = ls.find((x) => x.name === "probe")!;
    assert.ok(w.latencyMs && w.latencyMs.p50 <= w.latencyMs.p99);
  });

  test("inspect - another namespace can neither find nor reach the workload", async () => {
    const r = await env.cli(["-n", "other", "inspect", "probe"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /NEX_E_NOT_FOUND/);
    await assert.rejects(
      ncB.request(subjects.control("default", "INSPECT", nodeId), JSON.stringify({ name: "probe" }), { timeout: 2_000 }),
      "default's control subjects are not in the other namespace's account",
    );
    const bad = await env.cli(["inspect", "no-such-thing"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /NEX_E_NOT_FOUND/);
  });

  test("feeds - nex logs filters by stream and regex, and --json prints one object per line", async () => {
    const errOnly = await check(async () => {
      const r = await env.cli(["logs", "probe", "--stream", "stderr"]);
      return r.stdout.includes("err:boom") ? r : undefined;
    });
    const lines = errOnly.stdout.trim().split("\n").filter((l) => l.includes("probe["));
    assert.ok(lines.length >= 3 && lines.every((l) => / ERR /.test(l)), errOnly.stdout);
    assert.doesNotMatch(errOnly.stdout, /out:a1/);
    const grep = await env.cli(["logs", "probe", "--grep", "^out:a[12]$"]);
    assert.deepEqual(grep.stdout.trim().split("\n").map((l) => l.replace(/^.* /, "")), ["out:a1", "out:a2"]);
    const json = await env.cli(["logs", "probe", "--json", "--stream", "stdout"]);
    const parsed = json.stdout.trim().split("\n").map((l) => JSON.parse(l) as { name: string; stream: string; line: string });
    assert.ok(parsed.length >= 3);
    assert.ok(parsed.every((l) => l.name === "probe" && l.stream === "stdout"));
    const bad = await env.cli(["logs", "probe", "--grep", "("]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /NEX_E_INVALID_FIELD: --grep/);
  });

  test("feeds - --since and --until take durations and ISO times", async () => {
    const none = await env.cli(["logs", "probe", "--until", "1h"]);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, "", "nothing was logged before an hour ago");
    const fromStart = await env.cli(["logs", "probe", "--since", new Date(started.getTime() - 1_000).toISOString(), "--until", new Date(Date.now() + 60_000).toISOString(), "--grep", "out:a1"]);
    assert.match(fromStart.stdout, /out:a1/);
    const later = await env.cli(["logs", "probe", "--since", new Date(Date.now() + 60_000).toISOString()]);
    assert.equal(later.stdout, "");
    const bad = await env.cli(["logs", "--since", "yesterday"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /NEX_E_INVALID_FIELD: --since/);
    // With -f, --until ends the command when it comes.
    const follow = await env.cli(["logs", "probe", "-f", "--since", "1h", "--until", new Date(Date.now() + 1_500).toISOString(), "--grep", "a2"], { timeoutMs: 20_000 });
    assert.equal(follow.code, 0, follow.stderr);
    assert.match(follow.stdout, /out:a2/);
  });

  test("feeds - nex events filters by type and regex, as JSON lines", async () => {
    const r = await env.cli(["events", "--type", "workload_deployed,function_failed", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as NexEvent);
    assert.deepEqual([...new Set(events.map((e) => e.type))].sort(), ["io.nex.function_failed", "io.nex.workload_deployed"]);
    const one = await env.cli(["events", "--type", "function_failed", "--grep", "boom asked"]);
    assert.equal(one.stdout.trim().split("\n").length, 1, one.stdout);
    assert.match(one.stdout, /function_failed/);
    const bad = await env.cli(["events", "--type", "workload_exploded"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /NEX_E_INVALID_FIELD: --type: no event type "workload_exploded"/);
  });
});
