/** `nex devrun FILE` (upload, then deploy: the dev loop) and `nex run LOCATION` (a full deploy). */
import { basename } from "node:path";
import { Command, Option } from "commander";
import { NexError, decode, decodeType, typeFromFileName, type Bid, type DeployRequest } from "../../contract/index.js";
import type { DeployResult } from "../../client/index.js";
import { parseTags } from "../../node/tags.js";
import { prepareArtifact } from "../artifact.js";
import { Spinner, action, collect, durationFlag, globals, intFlag, numberFlag, parseKeyValues, printJson, short, withClient } from "../common.js";

/** Flags shared by devrun and run. */
interface DeployFlags {
  name?: string;
  type?: string;
  triggerSubject: string[];
  trigger_subject: string[];
  node?: string;
  tags: string[];
  argv?: string;
  env: string[];
  timeoutMs?: string;
  maxConcurrency?: string;
  memoryMib?: string;
  lifecycle?: string;
  restart?: string;
  essential?: boolean;
  network: boolean;
  maxProcesses?: string;
  cpus?: string;
  description?: string;
  replicas?: string;
  spread?: boolean;
  durable?: boolean;
  durableOn: string[];
  maxDeliver?: string;
  backoff?: string;
  schedule?: string;
  overlap: boolean;
  sha256?: string;
}

function deployOptions(cmd: Command): Command {
  return cmd
    .option("--name <name>", "workload name (default: the file name without extension)")
    .option("--type <type>", "v8, wasm or native (default: from the file extension)")
    .option("--trigger-subject <subject>", "trigger subject for a function, repeatable (wildcards allowed)", collect, [])
    .addOption(new Option("--trigger_subject <subject>", "same as --trigger-subject").argParser(collect).default([]).hideHelp())
    .option("--node <node>", "deploy to this node (id, prefix or name) instead of the least loaded one")
    .option("--tags <k=v>", "only place on nodes with these tags, repeatable", collect, [])
    .option("--argv <args>", "arguments for the workload, space-separated")
    .option("-e, --env <KEY=VAL>", "environment variable, repeatable (KEY=VAL arguments work too)", collect, [])
    .option("--timeout-ms <ms>", "per-invocation timeout for functions (default 5000)")
    .option("--max-concurrency <n>", "functions: invocations of one instance that run at once, more wait (v8 default 64, wasm 8)")
    .option("--memory-mib <mib>", "memory limit in MiB (functions default 64, services 256)")
    .option("--lifecycle <kind>", "native workloads: service or job")
    .option("--restart <policy>", "native services: never, on-failure or always")
    .option("--essential", "same as --restart always")
    .option("--no-network", "native services in the sandbox: no network access")
    .option("--max-processes <n>", "native services: process-count limit")
    .option("--cpus <n>", "native workloads: CPU limit, in CPUs (e.g. 0.5 or 2)")
    .option("--description <text>", "a description shown in listings")
    .option("--replicas <n>", "how many instances to keep running across nodes (default 1)")
    .option("--spread", "at most one instance per node (by default replicas prefer distinct nodes but may share one)")
    .option("--durable", "functions: keep every trigger's messages in a JetStream stream, processed at least once, retried, then dead-lettered")
    .option("--durable-on <subject>", "functions: make only this trigger durable, repeatable", collect, [])
    .option("--max-deliver <n>", "durable triggers: deliveries of one message before it is dead-lettered (default 5)")
    .option("--backoff <delays>", "durable triggers: delays before each retry, comma-separated, the last repeats (default 1s,10s,1m)")
    .option("--schedule <expr>", 'functions: run on a schedule, cron in UTC ("*/5 * * * *", seconds field optional) or "@every 30s"')
    .option("--no-overlap", "scheduled functions: skip a tick while the previous run still goes");
}

/** `--backoff 1s,10s,1m` as milliseconds. */
function backoffFlag(v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  return v.split(",").map((d) => durationFlag(d.trim(), "--backoff"));
}

function buildRequest(f: DeployFlags, base: Pick<DeployRequest, "name" | "type" | "location" | "sha256">, envArgs: string[]): DeployRequest {
  const triggers = [...f.triggerSubject, ...f.trigger_subject];
  const req: DeployRequest = {
    ...base,
    triggers: triggers.length ? triggers : undefined,
    argv: f.argv ? f.argv.split(/\s+/).filter(Boolean) : undefined,
    env: { ...parseKeyValues(f.env, "--env"), ...parseKeyValues(envArgs, "environment argument") },
    description: f.description,
  };
  req.timeoutMs = intFlag(f.timeoutMs, "--timeout-ms");
  req.maxConcurrency = intFlag(f.maxConcurrency, "--max-concurrency");
  req.memoryLimitMiB = intFlag(f.memoryMib, "--memory-mib");
  if (f.lifecycle) req.lifecycle = f.lifecycle as DeployRequest["lifecycle"];
  if (f.restart) req.restart = f.restart as DeployRequest["restart"];
  if (f.essential) req.restart = "always";
  if (!f.network) req.noNetwork = true;
  req.maxProcesses = intFlag(f.maxProcesses, "--max-processes");
  req.replicas = intFlag(f.replicas, "--replicas");
  if (f.spread) req.spread = true;
  req.cpus = numberFlag(f.cpus, "--cpus");
  if (f.durable) req.durable = true;
  else if (f.durableOn.length > 0) req.durable = f.durableOn;
  req.maxDeliver = intFlag(f.maxDeliver, "--max-deliver");
  req.backoff = backoffFlag(f.backoff);
  req.schedule = f.schedule;
  if (!f.overlap) req.noOverlap = true;
  for (const k of Object.keys(req) as (keyof DeployRequest)[]) if (req[k] === undefined) delete req[k];
  // Everything the node would refuse is refused here, before an artifact is uploaded or an auction is run.
  decode.deploy({ ...req, location: req.location || PENDING_LOCATION } as unknown as Record<string, unknown>);
  return req;
}

/** Stands in for the upload's location while a devrun request is checked. */
const PENDING_LOCATION = "nats://NEX_ARTIFACTS/pending";

/** A workload name from a file name: `echo.js` → `echo`. */
export function nameFromFile(file: string): string {
  const base = basename(file).replace(/\.[^.]+$/, "").replace(/[^A-Za-z0-9_-]/g, "-");
  return base.length > 0 ? base.slice(0, 64) : "workload";
}

async function deployAndReport(cmd: Command, f: DeployFlags, req: DeployRequest, spinner: Spinner, bytes?: Uint8Array, key?: string): Promise<void> {
  const g = globals(cmd);
  const t0 = performance.now();
  const tags = f.tags.length ? parseTags(f.tags) : undefined;
  const r: DeployResult = await withClient(cmd, async (c) => {
    let bids: Bid[] | undefined;
    if (bytes && key) {
      spinner.step(`uploading ${key} (${bytes.length} bytes)…`);
      // The auction does not depend on the upload: run both at once.
      const [up, auction] = await Promise.all([
        c.uploadArtifact(key, bytes),
        f.node ? Promise.resolve(undefined) : c.auction(req.type, tags ?? req.tags, req),
      ]);
      req.location = up.location;
      req.sha256 = up.sha256;
      bids = auction;
    }
    spinner.step(f.node ? `deploying to ${f.node}…` : "placing the workload…");
    return c.deploy(req, { node: f.node, tags, bids });
  }).finally(() => spinner.stop());
  const totalMs = Math.round(performance.now() - t0);
  if (g.json) return printJson({ ...r, totalMs });
  const where = r.bids > 0 ? ` (best of ${r.bids} bid${r.bids === 1 ? "" : "s"})` : "";
  process.stdout.write(
    `deployed ${r.namespace}/${r.name} (${r.type}) as ${r.id} on node ${short(r.nodeId, 12)}${where} in ${totalMs} ms (node: ${r.deployMs} ms)\n`,
  );
  if (req.triggers?.length) process.stdout.write(`  triggers: ${req.triggers.join(", ")}\n`);
  if (r.replaced) process.stdout.write(`  replaced ${r.replaced}\n`);
  if ((r.replicas ?? 1) > 1) process.stdout.write(`  replicas: ${r.replicas} (the nodes place the others)\n`);
  if (req.durable) process.stdout.write(`  durable: ${req.durable === true ? "every trigger" : req.durable.join(", ")} (kept in a stream, retried, then dead-lettered)\n`);
  if (req.schedule) process.stdout.write(`  schedule: ${req.schedule} (UTC)${req.noOverlap ? ", no overlap" : ""}\n`);
}

/** `nex devrun` */
export function devrunCommand(): Command {
  return deployOptions(
    new Command("devrun")
      .alias("yeet")
      .argument("<file>", "the artifact: .js/.mjs/.ts (v8), .wasm, or an executable")
      .argument("[env...]", "environment variables as KEY=VAL")
      .description("upload a local file and deploy it (redeploying the same name replaces it)"),
  ).action(
    action(async (file: string, envArgs: string[], f: DeployFlags, cmd: Command) => {
      const type = decodeType(f.type ?? typeFromFileName(file));
      const name = f.name ?? nameFromFile(file);
      const req = buildRequest(f, { name, type, location: "" }, envArgs);
      const spinner = new Spinner(globals(cmd).json);
      spinner.step(`reading ${file}…`);
      const bytes = await prepareArtifact(file, type).catch((err: unknown) => {
        spinner.stop();
        throw err;
      });
      await deployAndReport(cmd, f, req, spinner, bytes, `${name}/${basename(file)}`);
    }),
  );
}

/** `nex run` */
export function runCommand(): Command {
  return deployOptions(
    new Command("run")
      .argument("<location>", "nats://BUCKET/KEY, file:///absolute/path or http(s)://…")
      .argument("[env...]", "environment variables as KEY=VAL")
      .option("--sha256 <hex>", "expected sha256 of the artifact (the node refuses a mismatch)")
      .description("deploy a workload from an artifact location"),
  ).action(
    action(async (location: string, envArgs: string[], f: DeployFlags, cmd: Command) => {
      let path: string;
      try {
        path = new URL(location).pathname;
      } catch {
        throw new NexError("NEX_E_BAD_LOCATION", `"${location}" is not a URL (use nats://, file:// or http(s)://)`);
      }
      const type = decodeType(f.type ?? typeFromFileName(path));
      const req = buildRequest(f, { name: f.name ?? nameFromFile(path), type, location, sha256: f.sha256 }, envArgs);
      await deployAndReport(cmd, f, req, new Spinner(globals(cmd).json));
    }),
  );
}
