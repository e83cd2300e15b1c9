/**
 * One KV get from inside a v8 function (a synchronous host call, and its async twin) beside the same get from a plain
 * nats.js client, in one run against one nats-server. Rounds alternate between the paths so drift hits both alike.
 *
 *   node --no-node-snapshot --import tsx bench/hostkv.ts [iterations]
 */
import { Kvm } from "@nats-io/kv";
import type { WorkloadSpec } from "../src/contract/index.js";
import { NatsHostServices } from "../src/hostservices/nats.js";
import { createV8Engine } from "../src/runtimes/v8/engine.js";
import { TestEnv } from "../src/testkit/index.js";

const N = Number(process.argv[2] ?? 5_000);
const ROUND = 100;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
const us = (ms: number): string => `${Math.round(ms * 1000)} µs`.padStart(9);

const env = await TestEnv.start();
try {
  const engine = await createV8Engine({ nodeId: "bench", maxReplyBytes: 1_048_576, batchSize: 128 });
  const bindings = { services: new NatsHostServices(await env.nc(), { autoCreateBuckets: true }), log: () => undefined };
  const spec = (name: string): WorkloadSpec => ({ id: name, name, namespace: "default", timeoutMs: 5_000, memoryLimitMiB: 64 }) as WorkloadSpec;
  const enc = new TextEncoder();
  const getFn = await engine.load(spec("get"), enc.encode(`(subject, payload) => this.kv("bench").get("k")`), bindings);
  const asyncFn = await engine.load(spec("async"), enc.encode(`(subject, payload) => kv("bench").async.get("k")`), bindings);
  const noopFn = await engine.load(spec("noop"), enc.encode(`(subject, payload) => null`), bindings);
  // Timed inside the isolate: a batch of gets around Date.now() gives the mean cost of the host call alone.
  const loopFn = await engine.load(spec("loop"), enc.encode(`(s, p) => { const n = p[0] * 100, t = Date.now(); for (let i = 0; i < n; i++) kv("bench").get("k"); return (Date.now() - t) / n; }`), bindings);
  const kv = await new Kvm(await env.nc()).create("bench");
  await kv.put("k", enc.encode("a value of some thirty-two bytes"));
  const inv = { subject: "bench", payload: new Uint8Array([10]) };

  const plain: number[] = [];
  const inFn: number[] = [];
  const inFnAsync: number[] = [];
  const noop: number[] = [];
  for (let i = 0; i < 200; i++) {
    await kv.get("k");
    await getFn.invoke(inv);
    await asyncFn.invoke(inv);
    await noopFn.invoke(inv);
  }
  for (let done = 0; done < N; done += ROUND) {
    for (let i = 0; i < ROUND; i++) {
      let t = performance.now();
      await kv.get("k");
      plain.push(performance.now() - t);
      t = performance.now();
      await getFn.invoke(inv);
      inFn.push(performance.now() - t);
      t = performance.now();
      await asyncFn.invoke(inv);
      inFnAsync.push(performance.now() - t);
      t = performance.now();
      await noopFn.invoke(inv);
      noop.push(performance.now() - t);
    }
  }
  const means: number[] = [];
  for (let i = 0; i < 10; i++) means.push(Number(new TextDecoder().decode((await loopFn.invoke(inv)).body)));

  const row = (label: string, xs: number[]): string => `${label.padEnd(52)} p50 ${us(pct(xs, 50))}   p99 ${us(pct(xs, 99))}`;
  process.stdout.write(`KV get, ${N} samples per path, ${new Date().toISOString()}\n`);
  process.stdout.write(row("plain nats.js client: kv.get", plain) + "\n");
  process.stdout.write(row("function invocation doing one this.kv().get()", inFn) + "\n");
  process.stdout.write(row("function invocation doing one kv().async.get()", inFnAsync) + "\n");
  process.stdout.write(row("function invocation doing nothing (baseline)", noop) + "\n");
  process.stdout.write(`${"host call alone: sync get minus doing nothing, p50".padEnd(52)} ${us(pct(inFn, 50) - pct(noop, 50))}\n`);
  process.stdout.write(`${"host call alone, mean of 10x1000 gets in one isolate".padEnd(52)} ${us(means.reduce((a, b) => a + b, 0) / means.length)}\n`);
  getFn.dispose();
  asyncFn.dispose();
  noopFn.dispose();
  loopFn.dispose();
  await engine.close();
} finally {
  await env.stop();
}
