/**
 * Bench-only responders in a process of their own, on the same NATS reply path as the v8 runner (a subscription
 * callback on one connection, `msg.respond` from the same connection, same connection options):
 * - `raw`: a plain nats.js echo, the limit (`raw-deferred`, `raw-batched`: the same behind an event-loop hop);
 * - `reuse`: the talk's echo.js in one isolate and one context built once (the design nex-ts uses);
 * - `context`: the same with a fresh context per call in one isolate;
 * - `isolate`: the same with a fresh isolate per call (Nex's way).
 * Forked by `lib/env.ts`; says `{ ready: { subject } }` over IPC once subscribed.
 */
import { readFileSync } from "node:fs";
import type { Msg } from "@nats-io/nats-core";
import { connectNats, type ConnectionConfig } from "../../src/nats/connect.js";
import { subjects } from "../../src/contract/index.js";
import { IsolateVariant, type VariantKnobs, type VariantMode } from "./isolates.js";

/** The responder modes; `raw-deferred` answers each message in its own macrotask, as an engine hop does. */
export type ResponderMode = "raw" | "raw-deferred" | "raw-batched" | VariantMode;

const args = JSON.parse(process.argv[2] ?? "{}") as { connection: ConnectionConfig; mode: ResponderMode; subject: string; knobs?: VariantKnobs };
const nc = await connectNats(args.connection, `nex-bench-${args.mode}`, true);

let handle: (msg: Msg) => void;
if (args.mode === "raw") {
  handle = (msg) => void msg.respond(msg.data);
} else if (args.mode === "raw-deferred") {
  handle = (msg) => void setImmediate(() => msg.respond(msg.data));
} else if (args.mode === "raw-batched") {
  // Deferred like an engine hop, but every reply ready in one turn of the event loop goes out in one write.
  let batch: Msg[] = [];
  const flush = (): void => {
    const b = batch;
    batch = [];
    for (const m of b) m.respond(m.data);
  };
  handle = (msg) =>
    void setImmediate(() => {
      if (batch.push(msg) === 1) setImmediate(flush);
    });
} else {
  const source = readFileSync(new URL("../../examples/js/echo.js", import.meta.url), "utf8");
  const logSubject = subjects.logs("bench", `echo-${args.mode}`, "variant", "stdout");
  const variant = await IsolateVariant.create(args.mode, source, (line) => nc.publish(logSubject, line), args.knobs);
  handle = (msg) => {
    variant.invoke(msg.subject, msg.data).then(
      (body) => msg.respond(body),
      (err: unknown) => msg.respond(`error: ${(err as Error).message}`),
    );
  };
}

nc.subscribe(args.subject, { callback: (err, msg) => (err ? undefined : handle(msg)) });
await nc.flush();
process.send?.({ ready: { subject: args.subject } });

async function stop(): Promise<void> {
  const timer = setTimeout(() => process.exit(1), 5_000);
  await nc.drain().catch(() => undefined);
  clearTimeout(timer);
  process.exit(0);
}
process.on("SIGTERM", () => void stop());
process.on("disconnect", () => void stop());
