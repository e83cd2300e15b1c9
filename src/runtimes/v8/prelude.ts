/**
 * JavaScript that runs inside every function's context once, at deploy, before the user's script: the invocation
 * state every other runtime script shares, `console` with the log caps applied at the source, and the invocation
 * wrappers. No runtime script reads or leaves anything on the global object: each is a function the host calls
 * with what it needs (host callbacks, the invocation state) and that returns what the next one needs, so user code
 * never meets a host hook (see `bindings.ts`).
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
 * The prelude: `(log, report, maxLines, maxChars, maxCharsPerSecond) => rt`. `log(stream, line)` is the host's log
 * callback; `stream` "dropped" reports how many lines the caps dropped here. `rt` is the invocation state, handed to
 * the other runtime scripts and never to user code:
 * - `active()`: true while the top-level code loads or an invocation runs. Host services, timers and console lines
 *   work only then: what an invocation leaves behind (a timer, a promise chain) cannot reach the host once it settled.
 * - `enter(span)`/`leave(span)` bracket each invocation; `loaded()` ends the top-level run, `loading()` tells if it is on.
 * - `running(span)` marks the traced invocation whose synchronous code runs now (and returns the one before);
 *   `span()` is the invocation a host call belongs to: that one, or, after an await, the only traced invocation that
 *   runs. With several running and none marked, it cannot be told (JavaScript has no async context here): undefined.
 * - `onIdle(fn)`: `fn` runs when the last running invocation settles, and when the top-level code has run.
 * - The bridge to the host for what does not block: `request(op, args, text)` is an async host call (a promise),
 *   `answer(id, a)` an invocation's answer. Both wait in an outbox the host collects: a trip into the isolate
 *   (`openTrip()`, then `deliver(results)` settles the host calls the host has answered since, then `closeTrip()`
 *   hands over the outbox), or, for what is posted while no trip is open (a timer callback), `report(outbox)`, the
 *   host's callback, one microtask later. So one trip each way carries many calls, results and answers.
 * The log caps here are a coarse copy of the runner's (chars for bytes): they keep a flood from crossing to the host.
 */
export const PRELUDE = String.raw`
(log, report, maxLines, maxChars, maxCharsPerSecond) => {
  const now = Date.now, toStr = String, slice = Function.prototype.call.bind(String.prototype.slice), freeze = Object.freeze;
  const apply = Reflect.apply, P = Promise, then = Promise.prototype.then, resolved = Promise.resolve();
  delete globalThis.WebAssembly;
  // Resizable and growable buffers are committed outside the allocator isolated-vm counts. Node 20's V8 drops them
  // by flag; later V8s ship them, so here: the methods and getters go, and the constructors ignore their options
  // (as V8 without the feature does), so every buffer has a fixed, counted length.
  for (const [name, grow, flag] of [["ArrayBuffer", "resize", "resizable"], ["SharedArrayBuffer", "grow", "growable"]]) {
    const C = globalThis[name];
    if (typeof C !== "function" || typeof C.prototype[grow] !== "function") continue;
    for (const k of [grow, flag, "maxByteLength"]) delete C.prototype[k];
    const construct = Reflect.construct;
    const Fixed = { [name]: function (length) {
      if (new.target === undefined) throw new TypeError("Constructor " + name + " requires 'new'");
      return construct(C, [length], new.target);
    } }[name];
    for (const k of Reflect.ownKeys(C)) if (k !== "prototype" && k !== "length" && k !== "name") Object.defineProperty(Fixed, k, Object.getOwnPropertyDescriptor(C, k));
    Object.defineProperty(Fixed, "prototype", { value: C.prototype, writable: false, enumerable: false, configurable: false });
    Object.defineProperty(C.prototype, "constructor", { value: Fixed, writable: true, enumerable: false, configurable: true });
    Object.defineProperty(globalThis, name, { value: Fixed, writable: true, enumerable: false, configurable: true });
  }
  let loading = true, inFlight = 0;
  const idle = [];
  let allowed = maxLines, used = 0, dropped = 0, second = 0, chars = 0;
  const active = () => loading || inFlight > 0;
  const reportDropped = () => { if (dropped > 0) { const n = dropped; dropped = 0; log("dropped", toStr(n)); } };
  const settle = () => { for (let i = 0; i < idle.length; i++) idle[i](); reportDropped(); };
  // Traced invocations: the span of the one whose synchronous code runs now, and the spans of all that run (a
  // prototype-less object, so no method a user could replace is involved).
  let current, traced = 0;
  const spans = Object.create(null);
  const span = () => {
    if (current !== undefined) return current;
    if (traced === 1) for (const s in spans) return s;
    return undefined;
  };
  // The outbox: [answers, calls], flat: answers [id, answer, …], calls [callId, op, args, text, span, …].
  const pending = { __proto__: null };
  let answers = [], calls = [], nextCall = 0, inTrip = false, flushing = false;
  const take = () => { const o = [answers, calls]; answers = []; calls = []; return o; };
  const flush = () => { flushing = false; if (!inTrip && (answers.length > 0 || calls.length > 0)) report(take()); };
  const posted = () => { if (!inTrip && !flushing) { flushing = true; apply(then, resolved, [flush]); } };
  const request = (op, args, text) => new P((resolve, reject) => {
    const id = ++nextCall, n = calls.length;
    pending[id] = [resolve, reject];
    calls[n] = id; calls[n + 1] = op; calls[n + 2] = args; calls[n + 3] = text === true; calls[n + 4] = span();
    posted();
  });
  const answer = (id, a) => { const n = answers.length; answers[n] = id; answers[n + 1] = a; posted(); };
  // results: [callId, ok, value (or the error's message), …]
  const deliver = (results) => {
    for (let i = 0; i + 2 < results.length; i += 3) {
      const id = results[i], p = pending[id];
      if (p === undefined) continue;
      delete pending[id];
      if (results[i + 1]) p[0](results[i + 2]); else p[1](results[i + 2]);
    }
  };
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
  const rt = freeze({
    active,
    loading: () => loading,
    onIdle: (fn) => { idle[idle.length] = fn; },
    enter: (sp) => {
      if (inFlight++ === 0) { used = 0; allowed = 0; }
      allowed += maxLines;
      if (sp !== undefined && spans[sp] !== true) { spans[sp] = true; traced++; }
    },
    leave: (sp) => {
      if (sp !== undefined && spans[sp] === true) { delete spans[sp]; traced--; }
      if (--inFlight === 0) settle(); else reportDropped();
    },
    loaded: () => { loading = false; settle(); },
    running: (sp) => { const before = current; current = sp; return before; },
    span,
    request, answer, deliver,
    openTrip: () => { inTrip = true; },
    closeTrip: () => { inTrip = false; return take(); },
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
 * returns `[single, run, ping, watch]`:
 * - `run(starts, results)` is one trip: it settles the host calls in `results` (see the prelude's `deliver`), starts
 *   the invocations in `starts` (`[[subject, payload, meta, id], …]`), lets what that set going run for a few
 *   microtask turns, and returns the outbox `[answers, calls]`. An answer is `{b, h?}` (body, and reply headers if any) or
 *   `{e}` (what was thrown); an invocation that still waits (on an async host call, a timer…) answers in a later trip
 *   or report, so one member waiting on I/O never holds back the replies of the others.
 * - `single(subject, payload, meta, id)` is the trip of one invocation and no results: its answer itself when it
 *   settled at once and posted nothing, or the outbox.
 * - `ping()` answers at once: the host uses it to tell a busy isolate from a stuck one.
 * - `watch()` never settles: the host keeps one call to it open, and its rejection tells the host the isolate died.
 * Bodies are encoded here: bytes and strings as they are, anything else as JSON. Nothing the invoker passes to a
 * built-in a user could have replaced is a runtime function.
 */
export const INVOKER = String.raw`
(rt) => {
  const apply = Reflect.apply, freeze = Object.freeze, stringify = JSON.stringify, isView = ArrayBuffer.isView;
  const P = Promise, then = Promise.prototype.then, promiseResolve = Promise.resolve, toStr = String;
  const U8 = Uint8Array, AB = ArrayBuffer, Err = Error;
  // Microtask turns a trip waits for what it set going (continuations, async functions that await nothing).
  const SETTLE_TURNS = 8;
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
  // Reply headers only when the function set some, so most answers are one small object.
  const answer = (r, h) => {
    try { return h === undefined ? { b: body(r) } : { b: body(r), h }; } catch (x) { return { e: thrown(x) }; }
  };
  const turns = async () => { for (let t = 0; t < SETTLE_TURNS; t++) await undefined; };
  let kept;
  return (user, name, namespace) => {
    // Starts one invocation: its answer, or 0 while it waits (its answer then goes to the outbox).
    const start = (subject, payload, meta, id) => {
      let replyHeaders;
      const ctx = freeze({
        subject, name, namespace,
        reply: meta.reply,
        deliveryCount: meta.dc,
        messageId: meta.mid,
        scheduledAt: meta.at,
        headers: meta.headers || {},
        header: (k) => { const v = (meta.headers || {})[k]; return v === undefined ? undefined : v[0]; },
        setHeader: (k, v) => { if (replyHeaders === undefined) replyHeaders = {}; replyHeaders[toStr(k)] = toStr(v); },
      });
      let r;
      const sp = meta.span;
      rt.enter(sp);
      const before = rt.running(sp);
      try {
        r = apply(user, globalThis, [subject, payload, ctx]);
        if (r === null || typeof r !== "object" || typeof r.then !== "function") { rt.running(before); rt.leave(sp); return answer(r, replyHeaders); }
      } catch (x) {
        rt.running(before);
        rt.leave(sp);
        return { e: thrown(x) };
      }
      rt.running(before);
      const done = (a) => { rt.leave(sp); rt.answer(id, a); };
      apply(then, apply(promiseResolve, P, [r]), [(v) => done(answer(v, replyHeaders)), (x) => done({ e: thrown(x) })]);
      return 0;
    };
    const run = (starts, results) => {
      rt.openTrip();
      let waits = results.length > 0;
      if (waits) rt.deliver(results);
      for (let i = 0; i < starts.length; i++) {
        const m = starts[i], a = start(m[0], m[1], m[2], m[3]);
        if (a === 0) waits = true; else rt.answer(m[3], a);
      }
      if (!waits) return rt.closeTrip();
      return apply(then, turns(), [rt.closeTrip]);
    };
    const single = (subject, payload, meta, id) => {
      rt.openTrip();
      const a = start(subject, payload, meta, id);
      if (a === 0) return apply(then, turns(), [rt.closeTrip]);
      const out = rt.closeTrip();
      if (out[0].length === 0 && out[1].length === 0) return a;
      const n = out[0].length;
      out[0][n] = id;
      out[0][n + 1] = a;
      return out;
    };
    const ping = () => 0;
    const watch = () => (kept = new P(() => undefined));
    rt.loaded();
    return [single, run, ping, watch];
  };
}
`;
