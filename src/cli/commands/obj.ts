/** `nex obj put|get|del|ls`: put files where functions read them with `objectStore(bucket)`, without the `nats` CLI. */
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { Command } from "commander";
import { NexError } from "../../contract/index.js";
import { action, globals, printJson, printTable } from "../common.js";
import { withHostServices, writeOut } from "./kv.js";

function readInput(file: string | undefined): Uint8Array {
  try {
    if (file !== undefined && file !== "-") return new Uint8Array(readFileSync(file));
    if (process.stdin.isTTY) throw new Error("give a FILE, or pipe the data on standard input");
    return new Uint8Array(readFileSync(0));
  } catch (err) {
    throw new NexError("NEX_E_INVALID_FIELD", `cannot read ${file ?? "standard input"}: ${(err as Error).message}`);
  }
}

function put(): Command {
  return new Command("put")
    .argument("<bucket>", "object store bucket (created if missing)")
    .argument("<name>", "object name (or the file to store, named after it)")
    .argument("[file]", "file to store; standard input when absent")
    .description("store an object")
    .action(
      action(async (bucket: string, name: string, file: string | undefined, _f: unknown, cmd: Command) => {
        // `nex obj put BUCKET ./file.json` names the object after the file.
        const single = file === undefined && existsSync(name) && statSync(name).isFile();
        const data = readInput(single ? name : file);
        const info = await withHostServices(cmd, true, (hs) => hs.objPut(bucket, single ? basename(name) : name, data));
        if (globals(cmd).json) return printJson(info);
        process.stdout.write(`${bucket}/${info.name}: ${info.size} bytes, ${info.digest}\n`);
      }),
    );
}

function get(): Command {
  return new Command("get")
    .argument("<bucket>", "object store bucket")
    .argument("<name>", "object name")
    .argument("[file]", "write to this file instead of standard output")
    .option("--raw", "print only the object's bytes, without a trailing newline")
    .description("fetch an object")
    .action(
      action(async (bucket: string, name: string, file: string | undefined, f: { raw?: boolean }, cmd: Command) => {
        const data = await withHostServices(cmd, false, (hs) => hs.objGet(bucket, name));
        if (data === null) throw new NexError("NEX_E_NOT_FOUND", `no object "${name}" in bucket "${bucket}"`, { hint: `List the objects with \`nex obj ls ${bucket}\`.` });
        if (file !== undefined) {
          writeFileSync(file, data);
          process.stdout.write(`wrote ${data.length} bytes to ${file}\n`);
        } else writeOut(data, f.raw);
      }),
    );
}

function del(): Command {
  return new Command("del")
    .alias("rm")
    .argument("<bucket>", "object store bucket")
    .argument("<name>", "object name")
    .description("delete an object")
    .action(
      action(async (bucket: string, name: string, _f: unknown, cmd: Command) => {
        const existed = await withHostServices(cmd, false, (hs) => hs.objDelete(bucket, name));
        if (!existed) throw new NexError("NEX_E_NOT_FOUND", `no object "${name}" in bucket "${bucket}"`, { hint: `List the objects with \`nex obj ls ${bucket}\`.` });
        if (globals(cmd).json) return printJson({ bucket, name, deleted: true });
        process.stdout.write(`deleted ${bucket}/${name}\n`);
      }),
    );
}

function ls(): Command {
  return new Command("ls")
    .argument("<bucket>", "object store bucket")
    .description("list a bucket's objects")
    .action(
      action(async (bucket: string, _f: unknown, cmd: Command) => {
        const list = await withHostServices(cmd, false, (hs) => hs.objList(bucket));
        if (globals(cmd).json) return printJson(list);
        if (list.length === 0) return void process.stdout.write(`no objects in ${bucket}\n`);
        printTable(["NAME", "SIZE", "MODIFIED", "DIGEST"], list.map((o) => [o.name, o.size, o.mtime, o.digest]));
      }),
    );
}

/** `nex obj` */
export function objCommand(): Command {
  return new Command("obj").description("read and write the object stores functions use").addCommand(put()).addCommand(get()).addCommand(del()).addCommand(ls());
}
