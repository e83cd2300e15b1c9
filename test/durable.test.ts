/**
 * Triggers that lose nothing: durable triggers (at least once, retries with backoff, dead letters, replies) and
 * schedules (each tick once across nodes, through the loss of a node; no overlap when asked). Side effects are checked
 * in a stream the test owns (`DONE`): each processed message publishes `done.<id>` once, so a loss or a duplicate shows.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { headers as natsHeaders } from "@nats-io/nats-core";
import type { NexClient } from "../src/client/index.js";
import { DeadLetters } from "../src/client/dlq.js";
import { ReplyBook } from "../src/runner/durable.js";
import { subjects, type StopReply } from "../src/contract/index.js";
import { TestEnv, check } from "../src/testkit/index.js";
import { kill9, nodeUp, type NodeProc } from "./helpers/nodes.js";

/** The messages of the DONE stream, by subject. */
async function doneCounts(jsm: JetStreamManager, filter = "done.>"): Promise<Map<string, number>> {
  const info = await jsm.streams.info("DONE", { subjects_filter: filter });
  const out = new Map<string, number>();
  for (const [s, n] of Object.entries(info.state.subjects ?? {})) out.set(s, n);
  return out;
}

/** A function that publishes `done.<payload>` with its delivery count, after failing as `failWhen` says. */
function recorder(failWhen = "false"): string {
  return `export default (subject, payload, ctx) => {
    const id = new TextDecoder().decode(payload);
    if (${failWhen}) throw new Error("failing " + id + " on delivery " + ctx.deliveryCount);
    messaging.publish("done." + id, String(ctx.deliveryCount) + " " + ctx.messageId);
    return "ok " + id + " " + ctx.deliveryCount;
  };`;
}

void test("durable - a noted request whose stored copy never came does not shift the replies of identical requests after it", async () => {
  const book = new ReplyBook();
  const data = new TextEncoder().encode("same");
  const req = (reply: string): Msg => ({ subject: "t.in", reply, data, headers: undefined }) as unknown as Msg;
  const key = ReplyBook.key("t.in", undefined, data);
  const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 30));
  book.note(req("stale"));
  // Sequential identical requests: each stored copy, stored as its request passed, gets its own request's reply.
  for (const r of ["r1", "r2", "r3"]) {
    await pause();
    book.note(req(r));
    assert.equal(book.take(key, Date.now()), r);
  }
  // Two in flight at once are both answered, each once.
  book.note(req("a"));
  await pause();
  book.note(req("b"));
  const t = Date.now();
  assert.deepEqual([book.take(key, t - 30), book.take(key, t)].sort(), ["a", "b"]);
  assert.equal(book.take(key, Date.now()), "stale", "the stale one is still there, last");
  assert.equal(book.take(key, Date.now()), undefined);
});

void describe("durable triggers", () => {
  let env: TestEnv;
  let client: NexClient;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const procs: NodeProc[] = [];

  before(async () => {
    env = await TestEnv.start();
    client = await env.client();
    nc = await env.nc();
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "DONE", subjects: ["done.>"] });
  });
  after(async () => {
    await Promise.all(procs.map((p) => kill9(p)));
    await env.stop();
  });

  void test("durable - 1,000 messages published while the only node is down are each processed exactly once when it is back", async () => {
    let n = await nodeUp(env, "durable-a");
    procs.push(n);
    await env.deployJs(client, "ingest", recorder(), ["ingest.readings"], { durable: true }, { node: n.id });
    await kill9(n);
    for (let i = 0; i < 1_000; i++) nc.publish("ingest.readings", `r.${i}`);
    await nc.flush();
    const stream = subjects.triggerStream("default", "ingest");
    await check(async () => (await jsm.streams.info(stream)).state.messages === 1_000, 10_000);
    n = await nodeUp(env, "durable-a");
    procs.push(n);
    await check(async () => (await doneCounts(jsm, "done.r.>")).size === 1_000, 60_000, 250).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${(await doneCounts(jsm, "done.r.>")).size} of 1000 processed\n${n.logs()}`);
    });
    // Settled: nothing more arrives, and each message was processed once.
    await new Promise((r) => setTimeout(r, 1_500));
    const counts = await doneCounts(jsm, "done.r.>");
    assert.equal(counts.size, 1_000);
    assert.deepEqual([...counts.values()].filter((c) => c !== 1), [], "no message was processed twice");
    await check(async () => (await jsm.streams.info(stream)).state.messages === 0, 10_000);
    await client.stop("ingest");
  });

  void test("durable - a function that fails the first delivery of each message succeeds on the second", async () => {
    const node = await env.node({ name: "durable-retry" });
    await env.deployJs(client, "flaky", recorder("ctx.deliveryCount === 1"), ["flaky.in"], { durable: true, maxDeliver: 3, backoff: [100] }, { node: node.id });
    for (let i = 0; i < 20; i++) nc.publish("flaky.in", `f.${i}`);
    await nc.flush();
    await check(async () => (await doneCounts(jsm, "done.f.>")).size === 20, 20_000, 200);
    // Each message's side effect was made by its second delivery.
    const c = await jetstream(nc).consumers.get("DONE", { filter_subjects: "done.f.>" });
    const msgs = await c.fetch({ max_messages: 20, expires: 2_000 });
    const counts: string[] = [];
    for await (const m of msgs) counts.push(m.string().split(" ")[0]!);
    assert.deepEqual([...new Set(counts)], ["2"]);
    assert.deepEqual(await new DeadLetters(nc, "default").list("flaky"), []);
    await client.stop("flaky", { deleteStream: true });
    await node.stop();
  });

  void test("durable - a backlog drains at the function's concurrency: the server never hands out more than it may run", async () => {
    const node = await env.node({ name: "durable-pace" });
    await env.deployJs(client, "paced", `export default async (subject, payload) => {
      await new Promise((r) => setTimeout(r, 100));
      messaging.publish("done." + new TextDecoder().decode(payload), "1");
      return "ok";
    };`, ["paced.in"], { durable: true, maxConcurrency: 2 }, { node: node.id });
    for (let i = 0; i < 20; i++) nc.publish("paced.in", `p.${i}`);
    await nc.flush();
    const stream = subjects.triggerStream("default", "paced");
    let most = 0;
    await check(async () => {
      const info = await jsm.consumers.info(stream, "nex");
      most = Math.max(most, info.num_ack_pending);
      return (await doneCounts(jsm, "done.p.>")).size === 20;
    }, 30_000, 20);
    assert.ok(most >= 1, "the consumer was seen with messages out");
    assert.ok(most <= 2, `at most 2 unacknowledged at once, saw ${most}`);
    assert.deepEqual([...(await doneCounts(jsm, "done.p.>")).values()].filter((c) => c !== 1), []);
    await client.stop("paced", { deleteStream: true });
    await node.stop();
  });

  void test("durable - a poison message ends in the dead letters after maxDeliver, with its error; it can be shown and replayed", async () => {
    const node = await env.node({ name: "durable-poison" });
    const source = recorder(`id === "poison" && kv("cure").get("ok") === null`);
    await env.deployJs(client, "picky", source, ["picky.in"], { durable: true, maxDeliver: 3, backoff: [50, 100] }, { node: node.id });
    const h = natsHeaders();
    h.set("X-Origin", "sensor-9");
    h.set("Nats-Msg-Id", "poison-1");
    nc.publish("picky.in", "poison", { headers: h });
    nc.publish("picky.in", "fine");
    await nc.flush();
    await check(async () => (await doneCounts(jsm, "done.fine")).size === 1, 10_000);
    const ls = await check(async () => {
      const r = await env.cli(["dlq", "ls", "picky", "--json"]);
      const letters = JSON.parse(r.stdout) as { seq: number; deliveries: number; code: string; error: string; messageId: string; subject: string }[];
      return letters.length === 1 ? letters : undefined;
    }, 15_000, 250);
    const letter = ls![0]!;
    assert.equal(letter.deliveries, 3);
    assert.equal(letter.code, "NEX_E_FUNCTION_ERROR");
    assert.match(letter.error, /failing poison on delivery 3/);
    assert.equal(letter.messageId, "poison-1");
    assert.equal(letter.subject, "picky.in");
    const show = await env.cli(["dlq", "show", String(letter.seq)]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /header X-Origin\s+sensor-9/);
    assert.match(show.stdout, /payload \(utf8\):\npoison/);
    // The trigger stream kept nothing: the poison message left it when it went to the dead letters.
    assert.equal((await jsm.streams.info(subjects.triggerStream("default", "picky"))).state.messages, 0);
    await client.stop("picky").catch(() => undefined);
    // Cured, and deployed again: the replayed message goes through, with its message id.
    await env.deployJs(client, "picky", source, ["picky.in"], { durable: true, maxDeliver: 3, backoff: [50, 100] }, { node: node.id });
    await (await new Kvm(nc).create("cure")).put("ok", "1");
    const replay = await env.cli(["dlq", "replay", "picky"]);
    assert.equal(replay.code, 0, replay.stderr);
    assert.match(replay.stdout, /replayed 1 dead letter/);
    await check(async () => (await doneCounts(jsm, "done.poison")).size === 1, 10_000);
    assert.equal((await env.cli(["dlq", "ls", "picky", "--json"])).stdout.trim(), "[]");
    await client.stop("picky", { deleteStream: true });
    await node.stop();
  });

  void test("durable - a request to a durable trigger gets the function's reply, not the stream's", async () => {
    const node = await env.node({ name: "durable-reply" });
    await env.deployJs(client, "answerer", recorder(), ["ask.me"], { durable: true }, { node: node.id });
    for (let i = 0; i < 5; i++) {
      const r = await nc.request("ask.me", `q${i}`, { timeout: 5_000 });
      assert.match(r.string(), new RegExp(`^ok q${i} 1$`));
    }
    const r = await env.cli(["req", "ask.me", "qcli"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ok qcli 1/);
    await client.stop("answerer", { deleteStream: true });
    await node.stop();
  });

  void test("durable - a stop keeps the stream and its waiting messages unless told to delete it; a redeploy picks them up", async () => {
    const node = await env.node({ name: "durable-stop" });
    await env.deployJs(client, "keeper", recorder(), ["keep.in"], { durable: true }, { node: node.id });
    const stopped = await env.cli(["stop", "keeper", "--json"]);
    assert.equal(stopped.code, 0, stopped.stderr);
    const reply = JSON.parse(stopped.stdout) as StopReply;
    assert.equal(reply.keptStream?.stream, subjects.triggerStream("default", "keeper"));
    for (let i = 0; i < 10; i++) nc.publish("keep.in", `k.${i}`);
    await nc.flush();
    await check(async () => (await jsm.streams.info(subjects.triggerStream("default", "keeper"))).state.messages === 10, 5_000);
    // Deploying it without --durable would drop them: refused.
    await assert.rejects(env.deployJs(client, "keeper", recorder(), ["keep.in"], {}, { node: node.id }), (e: Error & { code?: string }) => e.code === "NEX_E_CONFLICT");
    await env.deployJs(client, "keeper", recorder(), ["keep.in"], { durable: true }, { node: node.id });
    await check(async () => (await doneCounts(jsm, "done.k.>")).size === 10, 10_000);
    const del = await env.cli(["stop", "keeper", "--delete-stream"]);
    assert.equal(del.code, 0, del.stderr);
    await assert.rejects(jsm.streams.info(subjects.triggerStream("default", "keeper")));
    await node.stop();
  });

  void test("durable - bad durable and schedule settings are refused with coded errors before anything is sent", async () => {
    const cases: [string[], RegExp][] = [
      [["--durable-on", "not.mine"], /NEX_E_INVALID_FIELD.*durable/],
      [["--max-deliver", "3"], /NEX_E_INVALID_FIELD.*maxDeliver.*durable/],
      [["--durable", "--backoff", "1s,forever"], /NEX_E_INVALID_FIELD.*--backoff/],
      [["--schedule", "61 * * * *"], /NEX_E_BAD_REQUEST.*schedule/],
      [["--schedule", "@every 10ms"], /NEX_E_BAD_REQUEST.*at least 1s/],
      [["--no-overlap"], /NEX_E_INVALID_FIELD.*noOverlap/],
    ];
    const file = env.file("bad.js", `() => 1`);
    for (const [flags, want] of cases) {
      const r = await env.cli(["devrun", file.replace(/^file:\/\//, ""), "--trigger_subject", "bad.in", ...flags]);
      assert.notEqual(r.code, 0, flags.join(" "));
      assert.match(r.stderr, want, flags.join(" "));
    }
  });
});

void describe("schedules", () => {
  let env: TestEnv;
  let client: NexClient;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const procs: NodeProc[] = [];

  before(async () => {
    env = await TestEnv.start();
    client = await env.client();
    nc = await env.nc();
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "TICKS", subjects: ["tick.>"] });
  });
  after(async () => {
    await Promise.all(procs.map((p) => kill9(p)));
    await env.stop();
  });

  /** Ticks recorded so far: tick time → how many runs. */
  async function ticks(name: string): Promise<Map<string, number>> {
    const info = await jsm.streams.info("TICKS", { subjects_filter: `tick.${name}.>` });
    const out = new Map<string, number>();
    for (const [s, n] of Object.entries(info.state.subjects ?? {})) out.set(s.split(".").slice(2).join("."), n);
    return out;
  }

  void test("schedules - @every 1s on two nodes fires once per tick, with no double runs, and keeps firing after a node is killed", async () => {
    const a = await nodeUp(env, "sched-a");
    const b = await nodeUp(env, "sched-b");
    procs.push(a, b);
    const source = `export default (subject, payload, ctx) => {
      messaging.publish("tick.clock." + Date.parse(ctx.scheduledAt), subject);
    };`;
    await env.deployJs(client, "clock", source, [], { schedule: "@every 1s", replicas: 2, spread: true });
    await check(async () => (await client.list({ name: "clock" })).filter((w) => w.state === "running").length === 2, 15_000);
    const start = Date.now();
    await new Promise((r) => setTimeout(r, 10_000));
    let seen = await ticks("clock");
    const inWindow = [...seen.keys()].map(Number).filter((t) => t > start && t <= start + 10_000);
    assert.ok(inWindow.length >= 9, `${inWindow.length} ticks ran in 10 s`);
    assert.deepEqual([...seen.entries()].filter(([, n]) => n > 1), [], "no tick ran twice");
    // Each run was told its own tick, a whole second.
    for (const t of seen.keys()) assert.equal(Number(t) % 1_000, 0);
    await kill9(a);
    const killedAt = Date.now();
    await new Promise((r) => setTimeout(r, 5_000));
    seen = await ticks("clock");
    const after = [...seen.keys()].map(Number).filter((t) => t > killedAt + 1_000);
    assert.ok(after.length >= 3, `${after.length} ticks ran in the 4 s after the kill`);
    assert.deepEqual([...seen.entries()].filter(([, n]) => n > 1), [], "no tick ran twice");
    const st = await client.status({ name: "clock" });
    assert.equal(st.desired[0]?.schedule, "@every 1s");
    assert.ok(st.desired[0]?.nextRun && Date.parse(st.desired[0].nextRun) > Date.now() - 1_000, "ls shows the next run");
    await client.stop("clock");
  });

  void test("schedules - with --no-overlap a tick is skipped, and counted, while the previous run still goes", async () => {
    const node = await env.node({ name: "sched-slow" });
    const source = `export default async (subject, payload, ctx) => {
      messaging.publish("tick.slow." + Date.parse(ctx.scheduledAt), "start");
      await new Promise((r) => setTimeout(r, 2500));
    };`;
    await env.deployJs(client, "slow", source, [], { schedule: "@every 1s", noOverlap: true, timeoutMs: 10_000 }, { node: node.id });
    await new Promise((r) => setTimeout(r, 7_500));
    const runs = [...(await ticks("slow")).keys()].map(Number).sort();
    assert.ok(runs.length >= 2 && runs.length <= 4, `${runs.length} runs in 7.5 s of 2.5 s runs`);
    for (let i = 1; i < runs.length; i++) assert.ok(runs[i]! - runs[i - 1]! >= 3_000, "a run starts only after the one before ended");
    const r = await env.cli(["ls", "--desired", "--json"]);
    const desired = JSON.parse(r.stdout) as { name: string; skippedTicks?: number; nextRun?: string }[];
    const d = desired.find((x) => x.name === "slow");
    assert.ok((d?.skippedTicks ?? 0) >= 2, `skipped ${d?.skippedTicks}`);
    assert.ok(d?.nextRun);
    await client.stop("slow");
    await node.stop();
  });
});
