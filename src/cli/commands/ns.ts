/**
 * `nex ns create|ls|delete|creds|key`: namespaces are NATS accounts. These commands work on the keys a nex-made
 * deployment keeps in the nex home (`nex up` creates them); a deployment made with nsc manages accounts with nsc.
 */
import { join } from "node:path";
import { Command } from "commander";
import { AuthHome, mintCreds, writeSecret } from "../../auth/home.js";
import { DEFAULT_NAMESPACE_LIMITS, type JetStreamLimits } from "../../auth/jwts.js";
import { tenantPermissions } from "../../auth/permissions.js";
import { deleteAccounts } from "../../auth/resolver.js";
import { NexClient } from "../../client/index.js";
import { NexError } from "../../contract/index.js";
import { connectNats } from "../../nats/connect.js";
import { action, connectionOf, globals, intFlag, nexHome, printJson, printTable } from "../common.js";
import { pushHomeAccounts } from "./up.js";

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4 };

/** A size flag (`512M`, `4G`, `1GiB`, bytes, or -1 for unlimited), or NEX_E_INVALID_FIELD naming the flag. */
export function sizeFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === "-1") return -1;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new NexError("NEX_E_INVALID_FIELD", `${flag}: ${JSON.stringify(value)} is not a size (e.g. 512M, 4G, or -1 for unlimited)`);
  return Math.round(Number(m[1]) * unit);
}

function home(): AuthHome {
  if (!AuthHome.exists(nexHome())) {
    throw new NexError("NEX_E_NOT_FOUND", `no nex keys in ${nexHome()}`, {
      hint: "Namespaces are NATS accounts: `nex up` creates the keys here; with your own operator, create accounts with nsc (docs/security.md).",
    });
  }
  return AuthHome.open(nexHome());
}

function bytes(n: number | undefined): string {
  if (n === undefined) return "";
  if (n < 0) return "unlimited";
  for (const [u, v] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) if (n >= v) return `${Math.round((n / v) * 10) / 10} ${u}`;
  return `${n} B`;
}

interface CreateFlags {
  maxStorage?: string;
  maxMemory?: string;
  maxStreams?: string;
  maxConsumers?: string;
}

/** `nex ns …` */
export function nsCommand(): Command {
  const ns = new Command("ns").alias("namespace").description("namespaces: NATS accounts with their own subjects, streams, buckets and limits");

  ns.command("create")
    .argument("<name>", "namespace name")
    .option("--max-storage <size>", `JetStream file storage (default ${bytes(DEFAULT_NAMESPACE_LIMITS.diskStorage)}; replicas count: R3 uses 3×)`)
    .option("--max-memory <size>", `JetStream memory storage (default ${bytes(DEFAULT_NAMESPACE_LIMITS.memStorage)})`)
    .option("--max-streams <n>", `streams, KV buckets and object stores together (default ${DEFAULT_NAMESPACE_LIMITS.streams})`)
    .option("--max-consumers <n>", `consumers (default ${DEFAULT_NAMESPACE_LIMITS.consumers})`)
    .description("create a namespace (an account), its limits and its credentials")
    .action(
      action(async (name: string, f: CreateFlags, cmd: Command) => {
        const h = home();
        const limits: JetStreamLimits = {
          diskStorage: sizeFlag(f.maxStorage, "--max-storage") ?? DEFAULT_NAMESPACE_LIMITS.diskStorage,
          memStorage: sizeFlag(f.maxMemory, "--max-memory") ?? DEFAULT_NAMESPACE_LIMITS.memStorage,
          streams: intFlag(f.maxStreams, "--max-streams", -1) ?? DEFAULT_NAMESPACE_LIMITS.streams,
          consumers: intFlag(f.maxConsumers, "--max-consumers", -1) ?? DEFAULT_NAMESPACE_LIMITS.consumers,
        };
        const rec = await h.createNamespace(name, limits);
        try {
          await pushHomeAccounts(h, connectionOf(cmd, true).servers, nexHome());
        } catch (err) {
          h.removeNamespace(name);
          throw err;
        }
        if (globals(cmd).json) return printJson({ name, account: rec.account, limits, creds: h.credsPath(name) });
        process.stdout.write(`created namespace ${name} (account ${rec.account})\n  credentials: ${h.credsPath(name)}\n  use it: nex -n ${name} devrun …\n`);
      }),
    );

  ns.command("ls")
    .alias("list")
    .description("list namespaces")
    .action(
      action(async (_f: unknown, cmd: Command) => {
        const list = home().namespaces();
        if (globals(cmd).json) return printJson(list.map((a) => ({ name: a.name, account: a.account, limits: a.limits })));
        printTable(
          ["NAMESPACE", "ACCOUNT", "STORAGE", "MEMORY", "STREAMS", "CONSUMERS"],
          list.map((a) => [a.name, a.account, bytes(a.limits?.diskStorage), bytes(a.limits?.memStorage), a.limits?.streams, a.limits?.consumers]),
        );
      }),
    );

  ns.command("delete")
    .argument("<name>", "namespace name")
    .description("stop the namespace's workloads, then delete its account (its clients are disconnected, its data is gone)")
    .action(
      action(async (name: string, _f: unknown, cmd: Command) => {
        const h = home();
        const rec = h.account(name);
        if (!rec || rec.kind !== "namespace") throw new NexError("NEX_E_NO_NAMESPACE", `no namespace ${name}`);
        const servers = connectionOf(cmd, true).servers;
        const tenant = await connectNats({ servers, credsFile: h.credsPath(name) }, "nex-cli", false);
        let stopped = 0;
        try {
          const client = new NexClient(tenant, { namespace: name });
          for (const w of await client.list()) {
            await client.request("STOP", w.nodeId, { id: w.id }).catch(() => undefined);
            stopped++;
          }
        } finally {
          await tenant.close().catch(() => undefined);
        }
        const sysCreds = join(nexHome(), "auth", "sys.creds");
        writeSecret(sysCreds, h.systemCreds());
        const sys = await connectNats({ servers, credsFile: sysCreds }, "nex-cli-sys", false);
        try {
          await deleteAccounts(sys, h.operatorSigner(), [rec.account]);
        } finally {
          await sys.close().catch(() => undefined);
        }
        h.removeNamespace(name);
        process.stdout.write(`deleted namespace ${name} (stopped ${stopped} workload${stopped === 1 ? "" : "s"})\n`);
      }),
    );

  ns.command("creds")
    .argument("<name>", "namespace name")
    .option("--out <file>", "write the credentials to this file (mode 0600) instead of printing them")
    .option("--user <name>", "a name for the new user", "tenant")
    .description("mint a new user of the namespace and print its credentials (for the nats CLI, nex -s … --creds, or a program)")
    .action(
      action(async (name: string, f: { out?: string; user: string }) => {
        const rec = home().account(name);
        if (!rec || rec.kind !== "namespace") throw new NexError("NEX_E_NO_NAMESPACE", `no namespace ${name}`);
        const text = await mintCreds(rec, `${name}-${f.user}`, tenantPermissions());
        if (f.out) {
          writeSecret(f.out, text);
          process.stdout.write(`wrote credentials of a new ${name} user to ${f.out}\n`);
        } else process.stdout.write(text);
      }),
    );

  ns.command("key")
    .argument("<name>", "namespace name")
    .requiredOption("--out <file>", "where to write the key (mode 0600)")
    .description("write the namespace's signing key for a node on another machine (nex node up --namespace-key NAME=FILE)")
    .action(
      action(async (name: string, f: { out: string }) => {
        const rec = home().account(name);
        if (!rec || rec.kind !== "namespace") throw new NexError("NEX_E_NO_NAMESPACE", `no namespace ${name}`);
        writeSecret(f.out, JSON.stringify({ namespace: name, account: rec.account, signingKey: rec.signingKey }, null, 2) + "\n");
        process.stdout.write(`wrote the signing key of namespace ${name} to ${f.out}\n`);
      }),
    );
  return ns;
}
