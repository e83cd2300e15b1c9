/** `nex req` and `nex pub`: like `nats req` / `nats pub`, for invoking functions and services. */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { NexError } from "../../contract/index.js";
import { action, collect, connectCli, globals, printJson, withClient } from "../common.js";

function parseHeaders(list: string[]): Record<string, string> | undefined {
  if (list.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const h of list) {
    const i = h.indexOf(":");
    if (i <= 0) throw new NexError("NEX_E_INVALID_FIELD", `header "${h}" is not in the form Name:value`);
    out[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  return out;
}

/** The payload argument: text, `@file`, or standard input when absent and piped. */
function payloadOf(arg: string | undefined): Uint8Array {
  if (arg === undefined) return process.stdin.isTTY ? new Uint8Array() : new Uint8Array(readFileSync(0));
  if (arg.startsWith("@") && arg.length > 1) return new Uint8Array(readFileSync(arg.slice(1)));
  return new TextEncoder().encode(arg);
}

/** `nex req` */
export function reqCommand(): Command {
  return new Command("req")
    .alias("request")
    .argument("<subject>", "subject to send the request to")
    .argument("[payload]", "payload text, @file, or standard input")
    .option("-H, --header <Name:value>", "message header, repeatable", collect, [])
    .option("--raw", "print only the reply body, without a trailing newline")
    .description("send a request (invoke a function or a service) and print the reply")
    .action(
      action(async (subject: string, payload: string | undefined, f: { header: string[]; raw?: boolean }, cmd: Command) => {
        const g = globals(cmd);
        const msg = await withClient(cmd, (c) =>
          c.invoke(subject, payloadOf(payload), { headers: parseHeaders(f.header), timeoutMs: Number(g.timeout ?? 10_000) }),
        );
        if (g.json) {
          const h: Record<string, string[]> = {};
          for (const k of msg.headers?.keys() ?? []) h[k] = msg.headers!.values(k);
          return printJson({ subject: msg.subject, headers: h, data: msg.string() });
        }
        process.stdout.write(msg.data);
        if (!f.raw) process.stdout.write("\n");
      }),
    );
}

/** `nex pub` */
export function pubCommand(): Command {
  return new Command("pub")
    .alias("publish")
    .argument("<subject>", "subject to publish to")
    .argument("[payload]", "payload text, @file, or standard input")
    .option("-H, --header <Name:value>", "message header, repeatable", collect, [])
    .description("publish a message (runs a function with nothing to reply to)")
    .action(
      action(async (subject: string, payload: string | undefined, f: { header: string[] }, cmd: Command) => {
        const nc = await connectCli(cmd);
        try {
          const hs = parseHeaders(f.header);
          let h;
          if (hs) {
            h = natsHeaders();
            for (const [k, v] of Object.entries(hs)) h.set(k, v);
          }
          nc.publish(subject, payloadOf(payload), { headers: h });
          await nc.flush();
        } finally {
          await nc.close().catch(() => undefined);
        }
        if (!globals(cmd).json) process.stdout.write(`published to ${subject}\n`);
      }),
    );
}
