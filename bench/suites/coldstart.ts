/**
 * Section 3: cold start, from the deploy request to the first good reply, for JS, WASM and native; the node's own
 * share (DeployReply.deployMs); and the CLI's end-to-end time (`nex devrun`, then `nex req`, as subprocesses).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { errorFromReply, type NexClient } from "../../src/client/index.js";
import type { DeployRequest } from "../../src/contract/index.js";
import type { BenchConfig } from "../lib/config.js";
import { REPO_ROOT } from "../lib/env.js";
import type { ColdStartRow, CliRow } from "../lib/results.js";
import { summarize } from "../lib/stats.js";
import { ARTIFACTS, PAYLOAD, fileArtifact } from "../lib/workloads.js";

/** One workload type to cold-start. */
export interface ColdKind {
  name: string;
  key: "js" | "wasm" | "native";
  /** The artifact on disk, or why there is none. */
  file: string | { na: string };
  /** A deploy request for run `i`, and the subject to probe. */
  request(i: number, art: { location: string; sha256: string }): { req: DeployRequest; subject: string };
}

/** The three kinds: the talk's JS and WASM echoes and the Go echo service. */
export function coldKinds(goBinary: string | { na: string }): ColdKind[] {
  const fn = (type: "v8" | "wasm", prefix: string) => (i: number, art: { location: string; sha256: string }) => ({
    req: { name: `${prefix}-${i}`, type, triggers: [`bench.${prefix}.${i}`], ...art } as DeployRequest,
    subject: `bench.${prefix}.${i}`,
  });
  return [
    { name: "JS echo", key: "js", file: ARTIFACTS.jsEcho, request: fn("v8", "cold-js") },
    { name: "WASM echo", key: "wasm", file: existsSync(ARTIFACTS.wasmEcho) ? ARTIFACTS.wasmEcho : { na: "echo.wasm is not built" }, request: fn("wasm", "cold-wasm") },
    {
      name: "Go echo service (native)",
      key: "native",
      file: goBinary,
      request: (i, art) => ({ req: { name: `cold-native-${i}`, type: "native", lifecycle: "service", restart: "never", ...art }, subject: "svc.echo" }),
    },
  ];
}

/** Requests `subject` until a reply comes (no responders is retried after 1 ms); undefined on success. */
async function firstReply(nc: NatsConnection, subject: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = performance.now() + timeoutMs;
  let last = "no reply";
  while (performance.now() < deadline) {
    try {
      const e = errorFromReply(await nc.request(subject, PAYLOAD, { timeout: 1_000 }));
      if (e === undefined) return undefined;
      last = `${e.code}: ${e.message}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  return last;
}

/** Deploys each kind `n` times on `nodeId`, one at a time, stopping each before the next. */
export async function coldStartSuite(
  nc: NatsConnection,
  client: NexClient,
  nodeId: string,
  kinds: ColdKind[],
  cfg: BenchConfig,
  progress: (s: string) => void,
): Promise<ColdStartRow[]> {
  const out: ColdStartRow[] = [];
  for (const k of kinds) {
    if (typeof k.file !== "string") {
      out.push({ name: k.name, key: k.key, na: k.file.na });
      continue;
    }
    progress(`cold start: ${k.name}`);
    const art = fileArtifact(k.file);
    const totals: number[] = [];
    const node: number[] = [];
    let failure: string | undefined;
    for (let i = 0; i < cfg.coldStarts && failure === undefined; i++) {
      const { req, subject } = k.request(i, art);
      const t0 = performance.now();
      try {
        const r = await client.deploy(req, { node: nodeId });
        failure = await firstReply(nc, subject, 30_000);
        totals.push(performance.now() - t0);
        node.push(r.deployMs);
      } catch (err) {
        failure = `deploy failed: ${(err as Error).message}`;
      }
      await client.stop(req.name, { node: nodeId }).catch(() => undefined);
    }
    if (failure !== undefined) out.push({ name: k.name, key: k.key, na: failure });
    else {
      const t = summarize(totals);
      const n = summarize(node);
      out.push({ name: k.name, key: k.key, n: totals.length, p50Ms: t.p50, p99Ms: t.p99, nodeP50Ms: n.p50, nodeP99Ms: n.p99 });
    }
  }
  return out;
}

function runCli(args: string[], natsUrl: string, timeoutMs = 60_000): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [join(REPO_ROOT, "bin", "nex.mjs"), ...args], {
    env: { ...process.env, NATS_URL: natsUrl, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out: out.slice(-2_000) });
    });
  });
}

/** Whether `bin/nex.mjs` runs the build or the sources. */
export function cliRunsFrom(): string {
  return process.env["NEX_FROM_SOURCE"] !== "1" && existsSync(join(REPO_ROOT, "dist", "cli", "main.js")) ? "dist" : "source (tsx)";
}

/** `nex devrun FILE --trigger_subject=S` then `nex req S`, timed together, `cliRuns` times per kind. */
export async function cliSuite(client: NexClient, natsUrl: string, kinds: ColdKind[], cfg: BenchConfig, progress: (s: string) => void): Promise<CliRow[]> {
  const out: CliRow[] = [];
  for (const k of kinds) {
    if (typeof k.file !== "string") {
      out.push({ name: k.name, key: k.key, na: k.file.na });
      continue;
    }
    progress(`cold start through the CLI: ${k.name}`);
    const times: number[] = [];
    let failure: string | undefined;
    for (let i = 0; i < cfg.cliRuns && failure === undefined; i++) {
      const name = `cli-${k.key}-${i}`;
      const subject = k.key === "native" ? "svc.echo" : `bench.cli.${k.key}.${i}`;
      const deployArgs = ["devrun", k.file, `--name=${name}`, `--type=${k.key === "js" ? "v8" : k.key}`];
      if (k.key !== "native") deployArgs.push(`--trigger_subject=${subject}`);
      const t0 = performance.now();
      const d = await runCli(deployArgs, natsUrl);
      // A service is up when its process is; the first request may come before it subscribed: retry like a user.
      let r = d.code === 0 ? await runCli(["req", subject, PAYLOAD], natsUrl) : d;
      for (let tries = 0; k.key === "native" && d.code === 0 && r.code !== 0 && tries < 20; tries++) r = await runCli(["req", subject, PAYLOAD], natsUrl);
      if (r.code === 0) times.push(performance.now() - t0);
      else failure = `nex ${r === d ? "devrun" : "req"} failed: ${r.out.trim().split("\n").slice(-1)[0] ?? ""}`;
      await client.stop(name).catch(() => undefined);
    }
    if (failure !== undefined) out.push({ name: k.name, key: k.key, na: failure });
    else {
      const t = summarize(times);
      out.push({ name: k.name, key: k.key, n: times.length, p50Ms: t.p50, p99Ms: t.p99, runsFrom: cliRunsFrom() });
    }
  }
  return out;
}
