/**
 * The v8 invocation path rebuilt step by step on bare isolated-vm, to price each step the engine adds to a call.
 * Run: node --no-node-snapshot --import tsx bench/profile/steps.ts [calls]
 */
import type { Reference } from "isolated-vm";
import ivm from "../../src/runtimes/v8/ivm.js";
import { textTable } from "../lib/stats.js";
import { CONCURRENCY, concurrent, sequential, type Call } from "./timing.js";

const CALLS = Number(process.argv[2] ?? 20_000);
const payload = new TextEncoder().encode("hello nex!");


/** The talk's echo.js. */
const USER = `const user = (s, p) => { console.log(s); return { triggered_on: s, payload: String.fromCharCode(...p) }; };`;

/** Knobs of the path; the engine today has every one on. */
interface Step {
  name: string;
  /** The invoker: `async` (always a promise, as today) or `sync` (a promise only when the function returns one). */
  invoker: "async" | "sync";
  /** console.log crosses to the host per line (an ivm.Callback), or lines are buffered and returned with the result. */
  logs: "callback" | "buffered";
  /** isolated-vm's own `timeout` option on every apply (a watchdog per call). */
  ivmTimeout: boolean;
  /** A host setTimeout + Promise.race per call. */
  hostTimer: boolean;
}

async function build(s: Step): Promise<Call> {
  const isolate = new ivm.Isolate({ memoryLimit: 64 });
  const context = await isolate.createContext();
  let logs = 0;
  await context.global.set("__log", new ivm.Callback(() => void logs++, { ignored: true }));
  await context.eval(
    s.logs === "callback"
      ? `globalThis.__lines = null; globalThis.console = { log: (...a) => __log("stdout", a.join(" ")) };`
      : `globalThis.__lines = []; globalThis.console = { log: (...a) => { __lines.push(a.join(" ")); } };`,
  );
  const fn = (await (await isolate.compileScript(`${USER}\n${s.invoker === "async" ? ASYNC : SYNC}`)).run(context, { reference: true })) as Reference<(...a: unknown[]) => unknown>;
  return async () => {
    const call = fn.apply(undefined, ["bench", payload, { reply: "_INBOX.x" }], {
      ...(s.ivmTimeout ? { timeout: 5_000 } : {}),
      arguments: { copy: true },
      result: { copy: true, promise: true },
    });
    let r: unknown;
    if (s.hostTimer) {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("timeout")), 5_250);
      });
      try {
        r = await Promise.race([call, expired]);
      } finally {
        clearTimeout(timer);
      }
    } else r = await call;
    const o = r as { body: string; headers: Record<string, string>; logs?: string[] };
    if (o.logs) for (const l of o.logs) logs += l.length > 0 ? 1 : 0;
    return Object.keys(o.headers).length > 0 ? o : Buffer.from(o.body);
  };
}

const BODY = `
  const replyHeaders = {};
  const ctx = Object.freeze({ subject: s, reply: meta.reply, headers: meta.headers || {}, setHeader: (k, v) => { replyHeaders[k] = v; } });
  const done = (r) => {
    const out = { body: JSON.stringify(r), headers: replyHeaders };
    if (globalThis.__lines && __lines.length > 0) { out.logs = __lines.splice(0); }
    return out;
  };`;
const ASYNC = `(async (s, p, meta) => {${BODY}
  let r = user.call(globalThis, s, p, ctx);
  if (r !== null && typeof r === "object" && typeof r.then === "function") r = await r;
  return done(r);
})`;
const SYNC = `((s, p, meta) => {${BODY}
  const r = user.call(globalThis, s, p, ctx);
  return r !== null && typeof r === "object" && typeof r.then === "function" ? r.then(done) : done(r);
})`;
const today: Step = { name: "the engine's path today", invoker: "async", logs: "callback", ivmTimeout: true, hostTimer: true };
const steps: Step[] = [
  today,
  { ...today, name: "- console.log callback (lines returned with the result)", logs: "buffered" },
  { ...today, name: "- ivm timeout option (the host timer disposes the isolate)", logs: "buffered", ivmTimeout: false },
  { ...today, name: "- per-call host timer (one shared watchdog)", logs: "buffered", ivmTimeout: false, hostTimer: false },
  { ...today, name: "- async invoker (sync unless the function returns a promise)", logs: "buffered", ivmTimeout: false, hostTimer: false, invoker: "sync" },
  { ...today, name: "only the console.log callback removed, sync invoker", logs: "buffered", invoker: "sync" },
];
/** Rounds, interleaved over the steps; the best of each is kept, so load from elsewhere counts least. */
const ROUNDS = 3;
const calls = await Promise.all(steps.map(build));
const best = steps.map(() => ({ seq: Infinity, rps: 0 }));
for (let r = 0; r < ROUNDS; r++) {
  for (const [i, call] of calls.entries()) {
    best[i]!.seq = Math.min(best[i]!.seq, await sequential(call, CALLS));
    best[i]!.rps = Math.max(best[i]!.rps, await concurrent(call, CALLS));
  }
}
const rows = steps.map((s, i) => [s.name, `${best[i]!.seq.toFixed(1)} µs`, `${Math.round(best[i]!.rps)}`]);
process.stdout.write(`${textTable(["step (no NATS)", "per call, sequential", `calls/s, ${CONCURRENCY} in flight`], rows)}\n`);
