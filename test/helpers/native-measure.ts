/**
 * Measures the Go echo service: deploy-to-first-reply through nex (sandbox and not), and svc.echo request/reply
 * latency through nex beside the same binary started by hand.
 * Run: node --no-node-snapshot --import tsx test/helpers/native-measure.ts [requests] [deploys]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { TestEnv, check } from "../../src/testkit/index.js";
import { buildGoEcho, deployFile } from "./native.js";

const REQUESTS = Number(process.argv[2] ?? 5_000);
const DEPLOYS = Number(process.argv[3] ?? 5);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function latencies(nc: NatsConnection): Promise<string> {
  for (let i = 0; i < 200; i++) await nc.request("svc.echo", "warm", { timeout: 2_000 });
  const out: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = performance.now();
    await nc.request("svc.echo", "can you repeat?", { timeout: 2_000 });
    out.push((performance.now() - t0) * 1000);
  }
  return `p50 ${pct(out, 50).toFixed(0)} µs, p99 ${pct(out, 99).toFixed(0)} µs over ${REQUESTS}`;
}

/** The same binary, started by hand with only NATS_URL. */
async function byHand(echo: string, nc: NatsConnection, url: string, label: string): Promise<void> {
  const child = spawn(echo, [], { env: { NATS_URL: url }, stdio: "ignore" });
  try {
    await check(async () => (await nc.request("svc.echo", "hi", { timeout: 250 })).string(), 10_000);
    console.log(`by hand (${label}) svc.echo ${await latencies(nc)}`);
  } finally {
    child.kill("SIGKILL");
    await check(async () => (await nc.request("svc.echo", "x", { timeout: 100 }).then(() => false, () => true)), 10_000);
  }
}

const dir = mkdtempSync(join(tmpdir(), "nex-measure-"));
const env = await TestEnv.start();
try {
  const echo = await buildGoEcho(dir);
  const nc = await env.nc();
  const client = await env.client();
  // By hand before and after nex, so warm-up and ordering show up instead of hiding in one figure.
  await byHand(echo, nc, env.server.url, "first");
  for (const sandbox of [true, false]) {
    const node = await env.node({ sandbox, types: ["native"], warmRunners: false });
    const firsts: number[] = [];
    let lat = "";
    for (let i = 0; i < DEPLOYS; i++) {
      const t0 = performance.now();
      // Timed when the reply arrives, not when the client's post-deploy bookkeeping (a LIST broadcast) is done.
      const reply = check(async () => (await nc.request("svc.echo", "hi", { timeout: 250 })) && performance.now() - t0, 20_000, 5);
      await deployFile(client, node.id, "echo-go", echo);
      firsts.push(await reply);
      if (i === DEPLOYS - 1) lat = await latencies(nc);
      await client.stop("echo-go");
      await check(async () => (await nc.request("svc.echo", "x", { timeout: 100 }).then(() => false, () => true)), 10_000);
    }
    console.log(`${sandbox ? "sandbox   " : "no sandbox"} deploy-to-first-reply median ${pct(firsts, 50).toFixed(0)} ms (runs: ${firsts.map((f) => f.toFixed(0)).join(", ")}); svc.echo ${lat}`);
    await node.stop();
  }
  await byHand(echo, nc, env.server.url, "last");
} finally {
  await env.stop();
  rmSync(dir, { recursive: true, force: true });
}
