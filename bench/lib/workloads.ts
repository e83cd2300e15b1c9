/**
 * The workloads the invocation sections measure, each deployed once on the bench node. A workload that cannot run
 * (an example not built, a missing toolchain, a host service not available) becomes an "n/a (reason)" row.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { Kvm } from "@nats-io/kv";
import type { NexClient } from "../../src/client/index.js";
import type { DeployRequest } from "../../src/contract/index.js";
import { REPO_ROOT, type BenchEnv } from "./env.js";
import { probe, type Target } from "./load.js";

const run = promisify(execFile);

/** The payload every echo gets. */
export const PAYLOAD = "hello nex!";
/** The KV value the KV functions read. */
export const KV_VALUE = "bench-value";

/** The JS KV function: one KV get, the value is the reply. */
export const JS_KV_SOURCE = `(s, p) => this.kv("bench").get("k")\n`;

/** The same with the asynchronous twin: the isolate runs other invocations while the get is out. */
export const JS_KV_ASYNC_SOURCE = `(s, p) => kv("bench").async.get("k")\n`;

/** Invocations the async KV function may run at once, as many as the requesters. */
export const JS_KV_ASYNC_CONCURRENCY = 50;

/** A row of the invocation sections: a target to load, or the reason there is none. */
export type Row = { name: string; key: string; target: Target; stop: () => Promise<void> } | { name: string; key: string; na: string };

/** Paths of the artifacts, relative to the repository. */
export const ARTIFACTS = {
  jsEcho: join(REPO_ROOT, "examples", "js", "echo.js"),
  wasmEcho: join(REPO_ROOT, "examples", "wasm", "echo", "echo.wasm"),
  wasmKv: join(REPO_ROOT, "bench", "wasm", "kvget.wasm"),
} as const;

const enc = new TextEncoder();

/** Checks a reply's bytes. */
export function expectText(want: string): (m: Msg) => string | undefined {
  return (m) => (m.string() === want ? undefined : `unexpected reply ${JSON.stringify(m.string().slice(0, 200))}`);
}

/** Checks the JS echo's JSON reply. */
export function expectJsEcho(subject: string): (m: Msg) => string | undefined {
  return (m) => {
    try {
      const r = m.json<{ triggered_on?: string; payload?: string }>();
      if (r.triggered_on === subject && r.payload === PAYLOAD) return undefined;
    } catch {
      // reported below
    }
    return `unexpected reply ${JSON.stringify(m.string().slice(0, 200))}`;
  };
}

/** A file:// location and sha256 for a file on disk. */
export function fileArtifact(path: string): { location: string; sha256: string } {
  return { location: pathToFileURL(path).href, sha256: createHash("sha256").update(readFileSync(path)).digest("hex") };
}

/** Creates the "bench" bucket with key "k" for the KV functions. */
export async function seedKv(nc: NatsConnection): Promise<void> {
  const kv = await new Kvm(nc).create("bench", { history: 1 });
  await kv.put("k", KV_VALUE);
}

/** Builds the Go echo service into `dir` with the example's build script; returns its path or throws why not. */
export async function buildGoEcho(dir: string): Promise<string> {
  const out = join(dir, "echo-go");
  const env = { ...process.env, GOCACHE: join(dir, "gocache") };
  await run("bash", [join(REPO_ROOT, "examples", "go", "build.sh"), out], { env, timeout: 300_000 }).catch((err: { stderr?: string; message: string }) => {
    throw new Error((err.stderr || err.message).trim().split("\n").slice(-1)[0] ?? "build failed");
  });
  return out;
}

/** Deploys a function or service, waits for its first good reply, and gives back the row. */
async function deployRow(
  nc: NatsConnection,
  client: NexClient,
  nodeId: string,
  name: string,
  key: string,
  req: DeployRequest,
  target: Target,
  readyMs = 10_000,
): Promise<Row> {
  try {
    await client.deploy(req, { node: nodeId });
  } catch (err) {
    return { name, key, na: `deploy failed: ${(err as Error).message}` };
  }
  const stop = async (): Promise<void> => {
    await client.stop(req.name, { node: nodeId }).catch(() => undefined);
  };
  const err = await probe(nc, target, readyMs);
  if (err !== undefined) {
    await stop();
    return { name, key, na: err };
  }
  return { name, key, target, stop };
}

/** The KV limit: the bench's own nats.js client doing the same get as the KV functions, with no function in between. */
async function kvClientRow(nc: NatsConnection): Promise<Row> {
  const name = "plain client kv.get (the KV limit)";
  try {
    const kv = await new Kvm(nc).open("bench");
    const op = async (): Promise<string | undefined> => {
      const e = await kv.get("k");
      return e?.string() === KV_VALUE ? undefined : `unexpected value ${JSON.stringify(e?.string() ?? null)}`;
    };
    const target: Target = { subject: "", payload: new Uint8Array(), check: () => undefined, op };
    const err = await op();
    return err === undefined ? { name, key: "kvClient", target, stop: async () => undefined } : { name, key: "kvClient", na: err };
  } catch (err) {
    return { name, key: "kvClient", na: (err as Error).message };
  }
}

/** Runner processes per namespace of the node the multi-runner row runs on. */
export const MULTI_RUNNERS = 2;

/**
 * The JS echo on a node with MULTI_RUNNERS runners per namespace (its own node, so the single-runner row is
 * unchanged): the function is loaded into each runner and their queue group splits the requests.
 */
export async function deployMultiRunnerJs(nc: NatsConnection, client: NexClient, nodeId: string): Promise<Row> {
  return deployRow(
    nc,
    client,
    nodeId,
    `JS echo, ${MULTI_RUNNERS} runners`,
    "js2",
    { name: "bench-js-echo-runners", type: "v8", triggers: ["bench.js.echo.runners"], ...fileArtifact(ARTIFACTS.jsEcho) },
    { subject: "bench.js.echo.runners", payload: enc.encode(PAYLOAD), check: expectJsEcho("bench.js.echo.runners") },
  );
}

/** Deploys every workload of sections 1 and 2 (the raw responder first), in the order of the table. */
export async function deployAll(env: BenchEnv, nc: NatsConnection, client: NexClient, nodeId: string, go: string | { na: string }): Promise<Row[]> {
  const rows: Row[] = [];
  const raw = await env.responder("raw", "bench.raw");
  rows.push({ name: "raw NATS echo (the limit)", key: "raw", target: { subject: "bench.raw", payload: enc.encode(PAYLOAD), check: expectText(PAYLOAD) }, stop: () => env.stopChild(raw) });

  rows.push(
    typeof go === "string"
      ? await deployRow(nc, client, nodeId, "Go echo service (native)", "go", { name: "bench-go-echo", type: "native", lifecycle: "service", restart: "never", ...fileArtifact(go) }, { subject: "svc.echo", payload: enc.encode(PAYLOAD), check: expectText(PAYLOAD) }, 30_000)
      : { name: "Go echo service (native)", key: "go", na: go.na },
  );

  rows.push(await deployRow(nc, client, nodeId, "JS echo (echo.js)", "js", { name: "bench-js-echo", type: "v8", triggers: ["bench.js.echo"], ...fileArtifact(ARTIFACTS.jsEcho) }, { subject: "bench.js.echo", payload: enc.encode(PAYLOAD), check: expectJsEcho("bench.js.echo") }));

  // The same echo.js with its trigger durable: every request is stored in the trigger stream, consumed by the runner
  // and acked after its reply (docs/triggers.md).
  rows.push(await deployRow(nc, client, nodeId, "JS echo, durable trigger", "jsDurable", { name: "bench-js-durable", type: "v8", triggers: ["bench.js.durable"], durable: true, ...fileArtifact(ARTIFACTS.jsEcho) }, { subject: "bench.js.durable", payload: enc.encode(PAYLOAD), check: expectJsEcho("bench.js.durable") }));

  rows.push(
    existsSync(ARTIFACTS.wasmEcho)
      ? await deployRow(nc, client, nodeId, "WASM echo (echo.wasm)", "wasm", { name: "bench-wasm-echo", type: "wasm", triggers: ["bench.wasm.echo"], ...fileArtifact(ARTIFACTS.wasmEcho) }, { subject: "bench.wasm.echo", payload: enc.encode(PAYLOAD), check: expectText(`${PAYLOAD}bench.wasm.echo`) })
      : { name: "WASM echo (echo.wasm)", key: "wasm", na: "examples/wasm/echo/echo.wasm is not built" },
  );

  rows.push(await kvClientRow(nc));
  const jsKv = join(env.dir, "kvget.js");
  writeFileSync(jsKv, JS_KV_SOURCE);
  rows.push(await deployRow(nc, client, nodeId, "JS one KV get", "jsKv", { name: "bench-js-kv", type: "v8", triggers: ["bench.js.kv"], ...fileArtifact(jsKv) }, { subject: "bench.js.kv", payload: enc.encode(PAYLOAD), check: expectText(KV_VALUE) }));
  const jsKvAsync = join(env.dir, "kvget-async.js");
  writeFileSync(jsKvAsync, JS_KV_ASYNC_SOURCE);
  rows.push(
    await deployRow(nc, client, nodeId, `JS one KV get, async, concurrency ${JS_KV_ASYNC_CONCURRENCY}`, "jsKvAsync", { name: "bench-js-kv-async", type: "v8", triggers: ["bench.js.kv.async"], maxConcurrency: JS_KV_ASYNC_CONCURRENCY, ...fileArtifact(jsKvAsync) }, { subject: "bench.js.kv.async", payload: enc.encode(PAYLOAD), check: expectText(KV_VALUE) }),
  );

  rows.push(
    existsSync(ARTIFACTS.wasmKv)
      ? await deployRow(nc, client, nodeId, "WASM one KV get", "wasmKv", { name: "bench-wasm-kv", type: "wasm", triggers: ["bench.wasm.kv"], ...fileArtifact(ARTIFACTS.wasmKv) }, { subject: "bench.wasm.kv", payload: enc.encode(PAYLOAD), check: expectText(KV_VALUE) })
      : { name: "WASM one KV get", key: "wasmKv", na: "bench/wasm/kvget.wasm is not built (bench/wasm/build.sh)" },
  );
  return rows;
}
