/**
 * JavaScript that runs inside every function's context once, at deploy, before the user's script: the invocation
 * state every other runtime script shares, `console` with the log caps applied at the source, and the invocation
 * wrappers. No runtime script reads or leaves anything on the global object: each is a function the host calls
 * with what it needs (host callbacks, the invocation state) and that returns what the next one needs, so user code
 * never meets a host hook (see `boot.ts`).
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

/**
 * The prelude: `(log, maxLines, maxChars, maxCharsPerSecond) => rt`. `log(stream, line)` is the host's log callback;
 * `stream` "dropped" reports how many lines the caps dropped here. `rt` is the invocation state, handed to the other
 * runtime scripts and never to user code:
 * - `active()`: true while the top-level code loads or an invocation runs. Host services, timers and console lines
 *   work only then: what an invocation leaves behind (a timer, a promise chain) cannot reach the host once it settled.
 * - `enter()`/`leave()` bracket each invocation; `loaded()` ends the top-level run.
 * - `onIdle(fn)`: `fn` runs when the last running invocation settles, and when the top-level code has run.
 * - `running(span)` marks the traced invocation whose synchronous code runs now (and returns the one before);
 *   `span()` is the invocation a host call belongs to: that one, or, after an await, the only traced invocation that
 *   runs. With several running and none marked, it cannot be told (JavaScript has no async context here): undefined.
 * The log caps here are a coarse copy of the runner's (chars for bytes): they keep a flood from crossing to the host.
 */
export const PRELUDE = String.raw`
(log, maxLines, maxChars, maxCharsPerSecond) => {
  const now = Date.now, toStr = String, slice = Function.prototype.call.bind(String.prototype.slice), freeze = Object.freeze;
  delete globalThis.WebAssembly;
  let loading = true, inFlight = 0;
  const idle = [];
  let allowed = maxLines, used = 0, dropped = 0, second = 0, chars = 0;
  const active = () => loading || inFlight > 0;
  const report = () => { if (dropped > 0) { const n = dropped; dropped = 0; log("dropped", toStr(n)); } };
  const settle = () => { for (let i = 0; i < idle.length; i++) idle[i](); report(); };
  const emit = (stream, text) => {
    if (!active() || used >= allowed) { dropped++; return; }
    let s = typeof text === "string" ? text : toStr(text);
    // One char more than the cap, so the runner sees the line is over it and marks the cut.
    if (s.length > maxChars) s = slice(s, 0, maxChars + 1);
    const t = now();
    if (t - second >= 1000) { second = t; chars = 0; }
    if (chars + s.length > maxCharsPerSecond) { dropped++; return; }
    chars += s.length;
    used++;
    log(stream, s);
  };
  // Traced invocations: the span of the one whose synchronous code runs now, and the spans of all that run (a
  // prototype-less object, so no method a user could replace is involved).
  let current, traced = 0;
  const spans = Object.create(null);
  const rt = freeze({
    active,
    onIdle: (fn) => { idle[idle.length] = fn; },
    enter: (span) => {
      if (inFlight++ === 0) { used = 0; allowed = 0; }
      allowed += maxLines;
      if (span !== undefined && spans[span] !== true) { spans[span] = true; traced++; }
    },
    leave: (span) => {
      if (span !== undefined && spans[span] === true) { delete spans[span]; traced--; }
      if (--inFlight === 0) settle(); else report();
    },
    loaded: () => { loading = false; settle(); },
    running: (span) => { const before = current; current = span; return before; },
    span: () => {
      if (current !== undefined) return current;
      if (traced === 1) for (const s in spans) return s;
      return undefined;
    },
  });
  ${FORMAT}
  const line = (args) => args.map((a) => __fmt(a)).join(" ");
  const counts = new Map();
  const timers = new Map();
  const out = (...a) => emit("stdout", line(a));
  const err = (...a) => emit("stderr", line(a));
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
  Object.defineProperty(globalThis, "console", { value: freeze(console), writable: false, configurable: false, enumerable: false });
  return rt;
}
`;

/**
 * The invoker: `(rt) => bind`, run before the user's script so the built-ins it uses are the real ones.
 * `bind(user, name, namespace)` (called by the host once the user's function is known) ends the top-level run and
 * returns `[single, many]`: `single(subject, payload, meta)` runs one invocation; `many([[subject, payload, meta], …])`
 * runs a batch concurrently. Each invocation is answered with `{b, h}` (body and reply headers) or `{e}` (what was
 * thrown), so one failure never fails its batch-mates. Bodies are encoded here: bytes and strings as they are,
 * anything else as JSON. Nothing the invoker passes to a built-in a user could have replaced is a runtime function.
 */
export const INVOKER = String.raw`
(rt) => {
  const apply = Reflect.apply, freeze = Object.freeze, stringify = JSON.stringify, isView = ArrayBuffer.isView;
  const allSettled = Promise.allSettled.bind(Promise), toStr = String;
  const U8 = Uint8Array, AB = ArrayBuffer, Err = Error;
  const body = (r) => {
    if (r instanceof U8) return r;
    if (typeof r === "string") return r;
    if (r === undefined) return "";
    if (r instanceof AB) return new U8(r);
    if (isView(r)) return new U8(r.buffer, r.byteOffset, r.byteLength);
    const json = stringify(r, (k, v) => (typeof v === "bigint" ? v.toString() : v));
    return json === undefined ? "" : json;
  };
  const thrown = (x) => {
    if (x instanceof Err) return { name: toStr(x.name), message: toStr(x.message), stack: toStr(x.stack || "") };
    return { name: "Error", message: typeof x === "string" ? x : (() => { try { return stringify(x); } catch { return toStr(x); } })(), stack: "" };
  };
  return (user, name, namespace) => {
    const one = async (subject, payload, meta) => {
      const replyHeaders = {};
      const ctx = freeze({
        subject, name, namespace,
        reply: meta.reply,
        headers: meta.headers || {},
        header: (k) => { const v = (meta.headers || {})[k]; return v === undefined ? undefined : v[0]; },
        setHeader: (k, v) => { replyHeaders[toStr(k)] = toStr(v); },
      });
      let r;
      const span = meta.span;
      rt.enter(span);
      try {
        const before = rt.running(span);
        try {
          r = apply(user, globalThis, [subject, payload, ctx]);
        } finally {
          rt.running(before);
        }
        if (r !== null && typeof r === "object" && typeof r.then === "function") r = await r;
      } finally {
        rt.leave(span);
      }
      return { b: body(r), h: replyHeaders };
    };
    const single = async (subject, payload, meta) => {
      try {
        return await one(subject, payload, meta);
      } catch (x) {
        return { e: thrown(x) };
      }
    };
    const many = async (list) => {
      const running = [];
      for (let i = 0; i < list.length; i++) running[i] = one(list[i][0], list[i][1], list[i][2]);
      const settled = await allSettled(running);
      const out = [];
      for (let i = 0; i < settled.length; i++) out[i] = settled[i].status === "fulfilled" ? settled[i].value : { e: thrown(settled[i].reason) };
      return out;
    };
    rt.loaded();
    return [single, many];
  };
}
`;
