/** `nex node up|ls|info|lameduck`: run a node daemon, and look at or steer the nodes. */
import { Command, Option } from "commander";
import { NexError, WORKLOAD_TYPE_NAMES, isWorkloadType } from "../../contract/index.js";
import { NexNode } from "../../node/node.js";
import { NODE_DEFAULTS, type NodeOptions } from "../../node/options.js";
import { parseTags } from "../../node/tags.js";
import { AuthHome } from "../../auth/home.js";
import { action, collect, connectionOf, durationFlag, globals, intFlag, nexHome, numberFlag, parseKeyValues, printJson, printTable, short, withClient } from "../common.js";
import { printWorkloads } from "./ls.js";

/** Flags of `nex node up` (and `nex up`). */
export interface NodeUpFlags {
  name?: string;
  seedFile?: string;
  tags: string[];
  namespaces?: string;
  dataDir?: string;
  sandbox?: boolean;
  types?: string;
  heartbeat?: string;
  maxWorkloads?: string;
  maxArtifactMib?: string;
  maxMemoryMib?: string;
  maxTimeoutMs?: string;
  maxProcesses?: string;
  maxCpus?: string;
  autoCreateBuckets: boolean;
  allowEgress: string[];
  warm: boolean;
  insecure?: boolean;
  namespaceKey: string[];
  allowFileDir: string[];
  workloadUser?: string;
  restartGrace?: string;
  evictIdle?: string;
  metricsPort?: string;
  metricsHost?: string;
  otlpEndpoint?: string;
  triggerStreamMib?: string;
  dlqMib?: string;
  runners?: string;
}

/** Adds the node daemon flags to a command. */
export function nodeUpOptions(cmd: Command): Command {
  return cmd
    .option("--name <name>", "node name (default: host name)")
    .option("--seed-file <file>", "nkey seed file; keeps the node id (and its workloads) across restarts")
    .option("--tags <k=v>", "placement tag, repeatable (k=v or k1=v1,k2=v2)", collect, [])
    .option("--namespaces <list>", "serve only these namespaces (comma-separated; default all)")
    .option("--data-dir <dir>", "artifact cache and scratch space (default ~/.nex)")
    .addOption(new Option("--sandbox", "run native services in the bubblewrap sandbox (default when bwrap is installed)"))
    .addOption(new Option("--no-sandbox", "run native services as plain host processes"))
    .option("--types <list>", "workload types this node runs (default v8,wasm,native)")
    .option("--heartbeat <duration>", "heartbeat (lease) interval", "5s")
    .option("--restart-grace <duration>", "how long this node's workloads wait for its restart after a clean stop before moving (default 30s)")
    .option("--evict-idle <duration>", "free a JS function's isolate after this long without an invocation; the next message rebuilds it (default 5m; 0 or off: never)")
    .option("--max-workloads <n>", "most workloads this node runs")
    .option("--max-artifact-mib <n>", "largest artifact this node accepts, in MiB")
    .option("--max-memory-mib <n>", `largest memory limit one workload may ask for, in MiB (default ${NODE_DEFAULTS.maxMemoryMiB})`)
    .option("--max-timeout-ms <ms>", `longest invocation timeout a function may ask for (default ${NODE_DEFAULTS.maxTimeoutMs})`)
    .option("--max-processes <n>", `most processes one native workload may ask for (default ${NODE_DEFAULTS.maxProcesses})`)
    .option("--max-cpus <n>", "most CPUs one native workload may ask for, e.g. 0.5 or 2 (default: the host's CPU count)")
    .option("--trigger-stream-mib <n>", `most bytes one durable function's trigger stream keeps, in MiB; past it publishes are refused (default ${NODE_DEFAULTS.triggerStreamMiB})`)
    .option("--dlq-mib <n>", `most bytes one namespace's dead letters keep, in MiB; past it a message that fails for good stays in its trigger stream (default ${NODE_DEFAULTS.dlqMiB})`)
    .option(
      "--runners <n>",
      `runner processes per namespace and function engine, 1 to ${NODE_DEFAULTS.maxRunnersPerNamespace}; each loads every function of its namespace and they share its load (default ${NODE_DEFAULTS.runnersPerNamespace})`,
    )
    .option("--no-auto-create-buckets", "do not create missing KV / object store buckets for functions")
    .option(
      "--allow-egress <host|cidr>",
      "let functions' HTTP calls reach this host (name or IP, optionally :port) or CIDR although it is loopback, private or link-local; repeatable",
      collect,
      [],
    )
    .option("--no-warm", "do not start the JS runner before the first deploy")
    .option("--namespace-key <name=file>", "a namespace's account signing key (deployments made with nsc), repeatable", collect, [])
    .option("--allow-file-dir <dir>", "a directory file:// artifacts may be read from, repeatable (default: none)", collect, [])
    .option("--workload-user <user>", "user native workloads run as (default: the node's user; nobody when the node is root)")
    .option("--metrics-port <port>", "serve Prometheus metrics at http://HOST:PORT/metrics (off by default)")
    .option("--metrics-host <host>", "the address the metrics endpoint binds to (default 127.0.0.1)")
    .option("--otlp-endpoint <url>", "export invocation traces over OTLP/HTTP to this URL (e.g. http://127.0.0.1:4318)")
    .option("--insecure", "run on a NATS server without authentication (any client could run code as this node's user)");
}

/** Compiles node flags into node options. */
export function nodeOptionsFrom(cmd: Command, f: NodeUpFlags, overrides: Partial<NodeOptions> = {}): NodeOptions {
  const types = f.types?.split(",").map((s) => s.trim()).filter(Boolean).map((t) => {
    if (!isWorkloadType(t)) throw new NexError("NEX_E_UNKNOWN_TYPE", `--types: unknown workload type ${JSON.stringify(t)}; use ${WORKLOAD_TYPE_NAMES.join(", ")}`);
    return t;
  });
  let tags: Record<string, string>;
  try {
    tags = parseTags(f.tags);
  } catch (err) {
    throw new NexError("NEX_E_INVALID_FIELD", (err as Error).message);
  }
  const connection = connectionOf(cmd, true);
  return {
    connection,
    // The keys of a nex-made deployment, when the node runs with its control-plane credentials from the same home.
    authHome: AuthHome.exists(nexHome()) && connection.credsFile?.startsWith(nexHome()) ? nexHome() : undefined,
    namespaceKeys: parseKeyValues(f.namespaceKey, "--namespace-key"),
    allowFileDirs: f.allowFileDir,
    workloadUser: f.workloadUser,
    insecure: f.insecure,
    name: f.name,
    seedFile: f.seedFile,
    tags,
    namespaces: f.namespaces?.split(",").map((s) => s.trim()).filter(Boolean),
    dataDir: f.dataDir,
    sandbox: f.sandbox,
    types,
    heartbeatIntervalMs: f.heartbeat ? durationFlag(f.heartbeat, "--heartbeat") : undefined,
    restartGraceMs: f.restartGrace ? durationFlag(f.restartGrace, "--restart-grace") : undefined,
    idleEvictMs: f.evictIdle === undefined ? undefined : f.evictIdle.trim().toLowerCase() === "off" ? 0 : durationFlag(f.evictIdle, "--evict-idle"),
    maxWorkloads: intFlag(f.maxWorkloads, "--max-workloads"),
    maxArtifactMiB: intFlag(f.maxArtifactMib, "--max-artifact-mib"),
    maxMemoryMiB: intFlag(f.maxMemoryMib, "--max-memory-mib"),
    maxTimeoutMs: intFlag(f.maxTimeoutMs, "--max-timeout-ms"),
    maxProcesses: intFlag(f.maxProcesses, "--max-processes"),
    maxCpus: numberFlag(f.maxCpus, "--max-cpus"),
    triggerStreamMiB: intFlag(f.triggerStreamMib, "--trigger-stream-mib"),
    dlqMiB: intFlag(f.dlqMib, "--dlq-mib"),
    runnersPerNamespace: intFlag(f.runners, "--runners"),
    autoCreateBuckets: f.autoCreateBuckets,
    allowEgress: f.allowEgress.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean),
    warmRunners: f.warm,
    metricsPort: intFlag(f.metricsPort, "--metrics-port", 0),
    metricsHost: f.metricsHost,
    otlpEndpoint: f.otlpEndpoint,
    ...overrides,
  };
}

/** Runs a node in the foreground until SIGINT/SIGTERM (or lame duck) stops it. */
export async function runNodeForeground(opts: NodeOptions, onStopped?: () => Promise<void>): Promise<void> {
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const node = await NexNode.start(opts, log);
  // The handlers come before the line that says the node is up: whoever reads that line may signal at once.
  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      process.stderr.write("stopping node…\n");
      void node.stop();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    node.onStopped(() => resolve());
  });
  process.stdout.write(
    `nex node ${node.opts.name} is up\n  id:        ${node.id}\n  nats:      ${node.opts.connection.servers.join(",")}\n` +
      `  types:     ${node.opts.types.join(", ")}\n  sandbox:   ${node.opts.sandbox}\n` +
      (node.metricsUrl ? `  metrics:   ${node.metricsUrl}\n` : "") +
      (node.opts.otlpEndpoint ? `  traces:    ${node.opts.otlpEndpoint}\n` : ""),
  );
  await stopped;
  await onStopped?.();
}

/** `nex node …` */
export function nodeCommand(): Command {
  const node = new Command("node").description("run a node, or list, inspect and drain nodes");

  nodeUpOptions(node.command("up").description("start a node daemon (foreground) that joins NATS")).action(
    action(async (flags: NodeUpFlags, cmd: Command) => {
      await runNodeForeground(nodeOptionsFrom(cmd, flags));
    }),
  );

  node
    .command("ls")
    .alias("list")
    .description("list the nodes that answer")
    .option("--tags <k=v>", "only nodes with these tags", collect, [])
    .action(
      action(async (flags: { tags: string[] }, cmd: Command) => {
        const nodes = await withClient(cmd, (c) => c.ping(flags.tags.length ? parseTags(flags.tags) : undefined));
        if (globals(cmd).json) return printJson(nodes);
        if (nodes.length === 0) {
          process.stdout.write("no nodes answered\n");
          return;
        }
        printTable(
          ["NAME", "ID", "STATE", "VERSION", "WORKLOADS", "LOAD", "TYPES", "UPTIME", "TAGS"],
          nodes.map((n) => [
            n.name,
            short(n.nodeId, 12),
            n.state,
            n.version,
            n.workloads,
            n.load,
            n.types.join(","),
            `${Math.round(n.uptimeMs / 1000)}s`,
            Object.entries(n.tags)
              .filter(([k]) => !k.startsWith("nex."))
              .map(([k, v]) => `${k}=${v}`)
              .join(","),
          ]),
        );
      }),
    );

  node
    .command("info")
    .argument("<node>", "node id, unique id prefix, or name")
    .description("show a node and its workloads")
    .action(
      action(async (id: string, _f: unknown, cmd: Command) => {
        const info = await withClient(cmd, (c) => c.info(id));
        if (globals(cmd).json) return printJson(info);
        printTable(
          ["FIELD", "VALUE"],
          [
            ["name", info.name],
            ["id", info.nodeId],
            ["state", info.state],
            ["version", info.version],
            ["uptime", `${Math.round(info.uptimeMs / 1000)}s`],
            ["types", info.types.join(", ")],
            ["sandbox", String(info.sandbox)],
            ["state store", info.stateStore === "lost" ? "LOST (the desired-state bucket is gone; running what it has)" : info.stateStore],
            ["namespaces", info.namespaces === "*" ? "all" : info.namespaces.join(", ")],
            ["load", info.load],
            ["free memory", `${info.freeMemMiB} MiB`],
            [
              "maximums",
              `memory ${info.maximums.memoryLimitMiB} MiB, timeout ${info.maximums.timeoutMs} ms, ` +
                `processes ${info.maximums.maxProcesses}, cpus ${info.maximums.cpus}${info.cpuLimits ? "" : " (cannot limit CPU here)"}`,
            ],
            ["tags", Object.entries(info.tags).map(([k, v]) => `${k}=${v}`).join(" ")],
            [
              "runners",
              `${info.runnersPerNamespace ?? 1} per namespace; ` +
                ((info.runners ?? []).map((r) => `${r.type}/${r.namespace}#${r.runner} pid ${r.pid}${r.invocations === undefined ? "" : ` ${r.invocations} calls`}`).join(", ") || "none running"),
            ],
          ],
        );
        process.stdout.write("\n");
        printWorkloads(info.workloadList);
      }),
    );

  node
    .command("lameduck")
    .argument("<node>", "node id, unique id prefix, or name")
    .option("--delay <duration>", "keep serving for this long before draining and stopping", "0s")
    .description("stop a node taking new work, then drain its workloads and stop it")
    .action(
      action(async (id: string, f: { delay: string }, cmd: Command) => {
        const r = await withClient(cmd, (c) => c.lameduck(id, durationFlag(f.delay, "--delay")), true);
        if (globals(cmd).json) return printJson(r);
        process.stdout.write(`node ${r.nodeId} is in lame duck mode; it drains and stops after ${f.delay}\n`);
      }),
    );
  return node;
}
