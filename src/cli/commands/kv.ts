/** `nex kv put|get|del|ls`: put data where functions read it with `kv(bucket)`, without the `nats` CLI. */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { NexError } from "../../contract/index.js";
import type { HostServices } from "../../hostservices/index.js";
import { NatsHostServices } from "../../hostservices/nats.js";
import { action, connectCli, globals, printJson } from "../common.js";

/** Runs `fn` with host services on a fresh connection; `create` lets it create a missing bucket. */
export async function withHostServices<T>(cmd: Command, create: boolean, fn: (hs: HostServices) => Promise<T>): Promise<T> {
  const nc = await connectCli(cmd);
  try {
    return await fn(new NatsHostServices(nc, { autoCreateBuckets: create, callTimeoutMs: Number(globals(cmd).timeout ?? 10_000) }));
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** A value argument: text, `@file`, or standard input when absent. */
export function valueOf(arg: string | undefined, what: string): Uint8Array {
  if (arg !== undefined && arg.startsWith("@") && arg.length > 1) {
    try {
      return new Uint8Array(readFileSync(arg.slice(1)));
    } catch (err) {
      throw new NexError("NEX_E_INVALID_FIELD", `cannot read ${arg.slice(1)}: ${(err as Error).message}`);
    }
  }
  if (arg !== undefined) return new TextEncoder().encode(arg);
  if (process.stdin.isTTY) throw new NexError("NEX_E_INVALID_FIELD", `give the ${what} as an argument, as @file, or on standard input`);
  return new Uint8Array(readFileSync(0));
}

/** Writes bytes to stdout followed by a newline, as `nex req` does; `--raw` writes the bytes alone. */
export function writeOut(data: Uint8Array, raw?: boolean): void {
  process.stdout.write(data);
  if (!raw) process.stdout.write("\n");
}

function put(): Command {
  return new Command("put")
    .argument("<bucket>", "KV bucket (created if missing)")
    .argument("<key>", "key")
    .argument("[value]", "value text, @file, or standard input")
    .description("set a key")
    .action(
      action(async (bucket: string, key: string, value: string | undefined, _f: unknown, cmd: Command) => {
        const data = valueOf(value, "value");
        const revision = await withHostServices(cmd, true, (hs) => hs.kvSet(bucket, key, data));
        if (globals(cmd).json) return printJson({ bucket, key, revision, size: data.length });
        process.stdout.write(`${bucket}/${key}: ${data.length} bytes, revision ${revision}\n`);
      }),
    );
}

function get(): Command {
  return new Command("get")
    .argument("<bucket>", "KV bucket")
    .argument("<key>", "key")
    .option("--raw", "print only the value, without a trailing newline")
    .description("print a key's value")
    .action(
      action(async (bucket: string, key: string, f: { raw?: boolean }, cmd: Command) => {
        const v = await withHostServices(cmd, false, (hs) => hs.kvGet(bucket, key));
        if (v === null) throw new NexError("NEX_E_NOT_FOUND", `no key "${key}" in KV bucket "${bucket}"`, { hint: `List the keys with \`nex kv ls ${bucket}\`.` });
        if (globals(cmd).json) return printJson({ bucket, key, value: new TextDecoder().decode(v) });
        writeOut(v, f.raw);
      }),
    );
}

function del(): Command {
  return new Command("del")
    .alias("rm")
    .argument("<bucket>", "KV bucket")
    .argument("<key>", "key")
    .description("delete a key")
    .action(
      action(async (bucket: string, key: string, _f: unknown, cmd: Command) => {
        await withHostServices(cmd, false, (hs) => hs.kvDelete(bucket, key));
        if (globals(cmd).json) return printJson({ bucket, key, deleted: true });
        process.stdout.write(`deleted ${bucket}/${key}\n`);
      }),
    );
}

function ls(): Command {
  return new Command("ls")
    .alias("keys")
    .argument("<bucket>", "KV bucket")
    .argument("[filter]", "key filter, e.g. 'dev.*' or 'dev.>'")
    .description("list a bucket's keys")
    .action(
      action(async (bucket: string, filter: string | undefined, _f: unknown, cmd: Command) => {
        const keys = await withHostServices(cmd, false, (hs) => hs.kvKeys(bucket, filter));
        if (globals(cmd).json) return printJson(keys);
        process.stdout.write(keys.length ? keys.join("\n") + "\n" : `no keys in ${bucket}\n`);
      }),
    );
}

/** `nex kv` */
export function kvCommand(): Command {
  return new Command("kv").description("read and write the KV buckets functions use").addCommand(put()).addCommand(get()).addCommand(del()).addCommand(ls());
}
