/** `nex dlq`: a namespace's dead letters (messages of durable functions that failed every delivery). */
import { Command } from "commander";
import { DeadLetters, DLQ_LIST_LIMIT, type DeadLetterDetail } from "../../client/dlq.js";
import { NexError } from "../../contract/index.js";
import { action, connectCli, globals, intFlag, printJson, printTable } from "../common.js";

/** Runs `fn` with the namespace's dead letters, and closes the connection. */
async function withLetters<T>(cmd: Command, fn: (d: DeadLetters) => Promise<T>): Promise<T> {
  const nc = await connectCli(cmd);
  try {
    return await fn(new DeadLetters(nc, globals(cmd).namespace ?? "default"));
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** A payload as a terminal can show it: text when it is printable UTF-8, else base64. */
function printable(b: Uint8Array): { text: string; encoding: "utf8" | "base64" } {
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(b);
    // eslint-disable-next-line no-control-regex
    if (!/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) return { text, encoding: "utf8" };
  } catch {
    // not UTF-8
  }
  return { text: Buffer.from(b).toString("base64"), encoding: "base64" };
}

function detailJson(l: DeadLetterDetail): Record<string, unknown> {
  const { payload, ...rest } = l;
  const p = printable(payload);
  return { ...rest, payload: p.text, payloadEncoding: p.encoding };
}

/** `nex dlq …` */
export function dlqCommand(): Command {
  const dlq = new Command("dlq").description("dead letters of durable functions: list, show, replay, purge");

  dlq
    .command("ls")
    .alias("list")
    .argument("[name]", "only this function's")
    .option("--limit <n>", `at most this many (default and largest ${DLQ_LIST_LIMIT})`)
    .description("list dead letters, oldest first")
    .action(
      action(async (name: string | undefined, f: { limit?: string }, cmd: Command) => {
        const limit = Math.min(DLQ_LIST_LIMIT, intFlag(f.limit, "--limit", 1) ?? DLQ_LIST_LIMIT);
        const letters = await withLetters(cmd, (d) => d.list(name, limit));
        if (globals(cmd).json) return printJson(letters);
        if (letters.length === 0) return void process.stdout.write(`no dead letters${name ? ` of ${name}` : ""}\n`);
        printTable(
          ["ID", "FUNCTION", "SUBJECT", "TRIES", "CODE", "ERROR", "AT", "MESSAGE ID"],
          letters.map((l) => [l.seq, l.name, l.subject, l.deliveries, l.code, l.error.slice(0, 60), l.time, l.messageId]),
        );
      }),
    );

  dlq
    .command("show")
    .argument("<id>", "the dead letter's ID (from `nex dlq ls`) or its message id")
    .description("show one dead letter: its error, headers and payload")
    .action(
      action(async (id: string, _f: unknown, cmd: Command) => {
        const l = await withLetters(cmd, (d) => d.show(id));
        if (globals(cmd).json) return printJson(detailJson(l));
        const p = printable(l.payload);
        printTable(
          ["FIELD", "VALUE"],
          [
            ["id", l.seq],
            ["function", l.name],
            ["subject", l.subject],
            ["message id", l.messageId],
            ["deliveries", l.deliveries],
            ["error", `${l.code}: ${l.error}`],
            ["given up at", l.time],
            ["size", `${l.size} bytes`],
            ...Object.entries(l.headers).map(([k, v]) => [`header ${k}`, v.join(", ")]),
          ],
        );
        process.stdout.write(`\npayload (${p.encoding}):\n${p.text}\n`);
      }),
    );

  dlq
    .command("replay")
    .argument("<name>", "the function whose dead letters go back to it")
    .option("--id <id>", "only this dead letter (its ID or message id)")
    .description("publish dead letters to their subjects again (into the function's trigger stream), then remove them")
    .action(
      action(async (name: string, f: { id?: string }, cmd: Command) => {
        const r = await withLetters(cmd, (d) => d.replay(name, f.id));
        if (globals(cmd).json) return printJson(r);
        process.stdout.write(`replayed ${r.replayed.length} dead letter(s) of ${name}\n`);
      }),
    );

  dlq
    .command("purge")
    .argument("[name]", "only this function's")
    .option("--all", "every dead letter of the namespace (needed when no name is given)")
    .description("remove dead letters for good")
    .action(
      action(async (name: string | undefined, f: { all?: boolean }, cmd: Command) => {
        if (name === undefined && !f.all) {
          throw new NexError("NEX_E_INVALID_FIELD", "purge needs a function name, or --all for every dead letter of the namespace");
        }
        const purged = await withLetters(cmd, (d) => d.purge(name));
        if (globals(cmd).json) return printJson({ purged });
        process.stdout.write(`purged ${purged} dead letter(s)\n`);
      }),
    );

  return dlq;
}
