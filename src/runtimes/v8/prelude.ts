/**
 * JavaScript that runs inside every function's context once, at deploy, before the user's script.
 * It installs `console` and the invocation wrapper, and takes the host callbacks off the global object so user
 * code only sees the safe wrappers. The web runtime and host services add their globals afterwards (see
 * `bindings.ts`).
 */

/** Formats values the way `console.log` users expect, without any host access. */
const FORMAT = String.raw`
const __fmt = (v, depth = 0, seen = new Set()) => {
  if (typeof v === "string") return depth === 0 ? v : JSON.stringify(v);
  if (v === null || v === undefined || typeof v === "number" || typeof v === "boolean") return String(v);
  if (typeof v === "bigint") return v + "n";
  if (typeof v === "symbol") return v.toString();
  if (typeof v === "function") return "[Function" + (v.name ? ": " + v.name : " (anonymous)") + "]";
  if (v instanceof Error) return (v.stack && depth === 0) ? v.stack : (v.name + ": " + v.message);
  if (seen.has(v)) return "[Circular]";
  if (depth > 4) return Array.isArray(v) ? "[Array]" : "[Object]";
  seen.add(v);
  try {
    if (v instanceof Uint8Array) return "Uint8Array(" + v.length + ") [" + Array.from(v.subarray(0, 32)).join(", ") + (v.length > 32 ? ", ..." : "") + "]";
    if (Array.isArray(v)) return "[ " + v.map((x) => __fmt(x, depth + 1, seen)).join(", ") + " ]";
    if (v instanceof Map) return "Map(" + v.size + ") { " + [...v].map(([k, x]) => __fmt(k, depth + 1, seen) + " => " + __fmt(x, depth + 1, seen)).join(", ") + " }";
    if (v instanceof Set) return "Set(" + v.size + ") { " + [...v].map((x) => __fmt(x, depth + 1, seen)).join(", ") + " }";
    if (v instanceof Date) return v.toISOString();
    const keys = Object.keys(v);
    if (keys.length === 0) return "{}";
    return "{ " + keys.map((k) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)) + ": " + __fmt(v[k], depth + 1, seen)).join(", ") + " }";
  } finally { seen.delete(v); }
};
`;

/** The prelude. `$log` is a host callback `(stream, line)`, taken off the global object here. */
export const PRELUDE = String.raw`
(() => {
  const __log = globalThis.__nexLog;
  delete globalThis.__nexLog;
  ${FORMAT}
  const line = (args) => args.map((a) => __fmt(a)).join(" ");
  const counts = new Map();
  const timers = new Map();
  const out = (...a) => __log("stdout", line(a));
  const err = (...a) => __log("stderr", line(a));
  const console = {
    log: out, info: out, debug: out, trace: (...a) => err("Trace:", ...a, "\n" + (new Error().stack || "").split("\n").slice(2).join("\n")),
    warn: err, error: err,
    dir: (v) => out(v),
    table: (v) => out(v),
    assert: (cond, ...a) => { if (!cond) err("Assertion failed" + (a.length ? ":" : ""), ...a); },
    count: (label = "default") => { const n = (counts.get(label) || 0) + 1; counts.set(label, n); out(label + ": " + n); },
    countReset: (label = "default") => { counts.delete(label); },
    time: (label = "default") => { timers.set(label, Date.now()); },
    timeEnd: (label = "default") => { const t = timers.get(label); if (t !== undefined) { timers.delete(label); out(label + ": " + (Date.now() - t) + "ms"); } },
    timeLog: (label = "default", ...a) => { const t = timers.get(label); if (t !== undefined) out(label + ": " + (Date.now() - t) + "ms", ...a); },
  };
  Object.defineProperty(globalThis, "console", { value: Object.freeze(console), writable: false, configurable: false, enumerable: false });
})();
`;

/**
 * The invocation wrappers, installed after the user's function is known (as `__nexUser`): `[single, many]`.
 * `single(subject, payload, meta)` runs one invocation; `many([[subject, payload, meta], …])` runs a batch
 * concurrently. Each invocation is answered with `{b, h}` (body and reply headers) or `{e}` (what was thrown), so one
 * failure never fails its batch-mates. Bodies are encoded here: bytes and
 * strings as they are, anything else as JSON.
 */
export function invokerSource(name: string, namespace: string): string {
  return String.raw`
(() => {
  const user = globalThis.__nexUser;
  delete globalThis.__nexUser;
  const hooks = globalThis.__nexHooks || { enter() {}, leave() {} };
  delete globalThis.__nexHooks;
  const name = ${JSON.stringify(name)}, namespace = ${JSON.stringify(namespace)};
  const one = async (subject, payload, meta) => {
    const replyHeaders = {};
    const ctx = Object.freeze({
      subject, name, namespace,
      reply: meta.reply,
      headers: meta.headers || {},
      header: (k) => { const v = (meta.headers || {})[k]; return v === undefined ? undefined : v[0]; },
      setHeader: (k, v) => { replyHeaders[String(k)] = String(v); },
    });
    let r;
    hooks.enter();
    try {
      r = user.call(globalThis, subject, payload, ctx);
      if (r !== null && typeof r === "object" && typeof r.then === "function") r = await r;
    } finally {
      hooks.leave();
    }
    let body;
    if (r instanceof Uint8Array) body = r;
    else if (typeof r === "string") body = r;
    else if (r === undefined) body = "";
    else if (r instanceof ArrayBuffer) body = new Uint8Array(r);
    else if (ArrayBuffer.isView(r)) body = new Uint8Array(r.buffer, r.byteOffset, r.byteLength);
    else {
      body = JSON.stringify(r, (k, v) => (typeof v === "bigint" ? v.toString() : v));
      if (body === undefined) body = "";
    }
    return { b: body, h: replyHeaders };
  };
  const thrown = (x) => {
    if (x instanceof Error) return { name: String(x.name), message: String(x.message), stack: String(x.stack || "") };
    return { name: "Error", message: typeof x === "string" ? x : (() => { try { return JSON.stringify(x); } catch { return String(x); } })(), stack: "" };
  };
  const single = async (subject, payload, meta) => {
    try {
      return await one(subject, payload, meta);
    } catch (x) {
      return { e: thrown(x) };
    }
  };
  const many = async (list) => {
    const settled = await Promise.allSettled(list.map((a) => one(a[0], a[1], a[2])));
    return settled.map((s) => (s.status === "fulfilled" ? s.value : { e: thrown(s.reason) }));
  };
  return [single, many];
})()
`;
}
