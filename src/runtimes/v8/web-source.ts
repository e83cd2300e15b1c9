/**
 * The web platform basics every function gets, as JavaScript that runs once per isolate: TextEncoder/TextDecoder,
 * atob/btoa, structuredClone, crypto, DOMException, queueMicrotask and invocation-scoped timers.
 * Hand-written rather than bundled from npm: they are small, and every isolate compiles them at deploy.
 *
 * A function `(rt, random, timerSet, timerClear) => fire`: `rt` is the prelude's invocation state, `random(n)` gives
 * n random bytes from the host's CSPRNG, `timerSet(id, ms)` and `timerClear(id)` drive host timers that call back
 * into `fire(id)`. Timers belong to invocations: they are armed only while one runs, and every pending timer is
 * dropped when the last running invocation settles (the host cancels its side too).
 */
export const WEB_SOURCE = String.raw`
(rt, random, timerSet, timerClear) => {
  const define = (name, value) => Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });

  class DOMException extends Error {
    constructor(message = "", name = "Error") { super(message); Object.defineProperty(this, "name", { value: name, configurable: true, writable: true }); }
  }
  define("DOMException", DOMException);

  const toBytes = (input, what) => {
    if (input instanceof Uint8Array) return input;
    if (input instanceof ArrayBuffer) return new Uint8Array(input);
    if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    throw new TypeError(what + ": expected an ArrayBuffer or a typed array");
  };

  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(input = "") {
      const s = String(input), out = new Uint8Array(s.length * 3);
      let n = 0;
      for (let i = 0; i < s.length; i++) {
        let c = s.charCodeAt(i);
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
          const d = s.charCodeAt(i + 1);
          if (d >= 0xdc00 && d <= 0xdfff) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
        }
        if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
        if (c < 0x80) out[n++] = c;
        else if (c < 0x800) { out[n++] = 0xc0 | (c >> 6); out[n++] = 0x80 | (c & 63); }
        else if (c < 0x10000) { out[n++] = 0xe0 | (c >> 12); out[n++] = 0x80 | ((c >> 6) & 63); out[n++] = 0x80 | (c & 63); }
        else { out[n++] = 0xf0 | (c >> 18); out[n++] = 0x80 | ((c >> 12) & 63); out[n++] = 0x80 | ((c >> 6) & 63); out[n++] = 0x80 | (c & 63); }
      }
      return out.slice(0, n);
    }
    encodeInto(input, dest) {
      const b = this.encode(input);
      let n = Math.min(b.length, dest.length);
      while (n > 0 && n < b.length && (b[n] & 0xc0) === 0x80) n--;
      dest.set(b.subarray(0, n));
      return { read: new TextDecoder().decode(b.subarray(0, n)).length, written: n };
    }
  }

  const LABELS = ["utf-8", "utf8", "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "x-unicode20utf8"];
  class TextDecoder {
    #fatal; #ignoreBOM; #pending = null; #bomSeen = false;
    constructor(label = "utf-8", options = {}) {
      if (!LABELS.includes(String(label).trim().toLowerCase())) throw new RangeError("TextDecoder: only utf-8 is supported, not " + label);
      this.#fatal = !!options.fatal; this.#ignoreBOM = !!options.ignoreBOM;
    }
    get encoding() { return "utf-8"; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }
    decode(input, options = {}) {
      let b = input === undefined ? new Uint8Array(0) : toBytes(input, "TextDecoder.decode");
      if (this.#pending) { const m = new Uint8Array(this.#pending.length + b.length); m.set(this.#pending); m.set(b, this.#pending.length); b = m; this.#pending = null; }
      const stream = !!options.stream;
      let out = "", chunk = [], i = 0;
      const bad = () => { if (this.#fatal) throw new TypeError("TextDecoder: the data is not valid utf-8"); chunk.push(0xfffd); };
      while (i < b.length) {
        const c = b[i];
        let need = 0, cp = 0, lo = 0x80, hi = 0xbf;
        if (c < 0x80) { chunk.push(c); i++; }
        else {
          if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 0x1f; }
          else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 0xf; if (c === 0xe0) lo = 0xa0; if (c === 0xed) hi = 0x9f; }
          else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 0x7; if (c === 0xf0) lo = 0x90; if (c === 0xf4) hi = 0x8f; }
          else { bad(); i++; continue; }
          let j = 1;
          for (; j <= need; j++) {
            const d = b[i + j];
            if (d === undefined) break;
            if (d < (j === 1 ? lo : 0x80) || d > (j === 1 ? hi : 0xbf)) break;
            cp = (cp << 6) | (d & 0x3f);
          }
          if (j <= need) {
            if (i + j >= b.length && stream) { this.#pending = b.slice(i); break; }
            bad(); i += j; continue;
          }
          if (cp >= 0x10000) { cp -= 0x10000; chunk.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff)); } else chunk.push(cp);
          i += need + 1;
        }
        if (chunk.length >= 8192) { out += String.fromCharCode.apply(null, chunk); chunk = []; }
      }
      out += String.fromCharCode.apply(null, chunk);
      if (!this.#bomSeen && out.length > 0) { this.#bomSeen = true; if (!this.#ignoreBOM && out.charCodeAt(0) === 0xfeff) out = out.slice(1); }
      if (!stream) { this.#bomSeen = false; if (this.#pending) { this.#pending = null; if (this.#fatal) throw new TypeError("TextDecoder: the data is not valid utf-8"); out += "\ufffd"; } }
      return out;
    }
  }
  define("TextEncoder", TextEncoder);
  define("TextDecoder", TextDecoder);

  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  define("btoa", (data) => {
    const s = String(data);
    let out = "";
    for (let i = 0; i < s.length; i += 3) {
      const a = s.charCodeAt(i), b = s.charCodeAt(i + 1), c = s.charCodeAt(i + 2);
      if (a > 255 || b > 255 || c > 255) throw new DOMException("btoa: the string contains characters outside of Latin1", "InvalidCharacterError");
      const n = (a << 16) | ((b || 0) << 8) | (c || 0);
      out += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < s.length ? B64[(n >> 6) & 63] : "=") + (i + 2 < s.length ? B64[n & 63] : "=");
    }
    return out;
  });
  define("atob", (data) => {
    let s = String(data).replace(/[\t\n\f\r ]/g, "");
    if (s.length % 4 === 0) s = s.replace(/==?$/, "");
    if (s.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(s)) throw new DOMException("atob: the string is not correctly encoded", "InvalidCharacterError");
    let out = "", buf = 0, bits = 0;
    for (let i = 0; i < s.length; i++) {
      buf = (buf << 6) | B64.indexOf(s[i]); bits += 6;
      if (bits >= 8) { bits -= 8; out += String.fromCharCode((buf >> bits) & 255); }
    }
    return out;
  });

  const cloneErr = (what) => new DOMException("structuredClone: " + what + " could not be cloned", "DataCloneError");
  const ERRORS = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };
  const clone = (v, seen) => {
    if (v === null || (typeof v !== "object" && typeof v !== "function" && typeof v !== "symbol")) return v;
    if (typeof v === "function") throw cloneErr("a function");
    if (typeof v === "symbol") throw cloneErr("a symbol");
    if (seen.has(v)) return seen.get(v);
    let out;
    const tag = Object.prototype.toString.call(v).slice(8, -1);
    if (tag === "Date") out = new Date(v.getTime());
    else if (tag === "RegExp") out = new RegExp(v.source, v.flags);
    else if (tag === "Boolean" || tag === "Number" || tag === "String") out = Object(v.valueOf());
    else if (tag === "ArrayBuffer") out = v.slice(0);
    else if (ArrayBuffer.isView(v)) {
      const buf = clone(v.buffer, seen);
      out = tag === "DataView" ? new DataView(buf, v.byteOffset, v.byteLength) : new v.constructor(buf, v.byteOffset, v.length);
    } else if (tag === "Map") { out = new Map(); seen.set(v, out); for (const [k, x] of v) out.set(clone(k, seen), clone(x, seen)); return out; }
    else if (tag === "Set") { out = new Set(); seen.set(v, out); for (const x of v) out.add(clone(x, seen)); return out; }
    else if (tag === "Error") {
      const C = ERRORS[v.name] || Error;
      out = new C(v.message);
      seen.set(v, out);
      if (v.stack !== undefined) out.stack = String(v.stack);
      if ("cause" in v) out.cause = clone(v.cause, seen);
      return out;
    } else if (Array.isArray(v)) { out = new Array(v.length); seen.set(v, out); for (const k of Object.keys(v)) out[k] = clone(v[k], seen); return out; }
    else if (tag === "Object" || tag === "Arguments") { out = {}; seen.set(v, out); for (const k of Object.keys(v)) out[k] = clone(v[k], seen); return out; }
    else throw cloneErr("a " + tag);
    seen.set(v, out);
    return out;
  };
  define("structuredClone", (value, options) => {
    if (options && options.transfer && options.transfer.length) throw cloneErr("a transfer list");
    return clone(value, new Map());
  });

  const getRandomValues = (arr) => {
    if (!ArrayBuffer.isView(arr) || arr instanceof Float32Array || arr instanceof Float64Array || arr instanceof DataView) throw new DOMException("crypto.getRandomValues: expected an integer typed array", "TypeMismatchError");
    if (arr.byteLength > 65536) throw new DOMException("crypto.getRandomValues: at most 65536 bytes per call", "QuotaExceededError");
    new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength).set(random(arr.byteLength));
    return arr;
  };
  const randomUUID = () => {
    const b = getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => (x + 0x100).toString(16).slice(1)).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  };
  define("crypto", Object.freeze({ getRandomValues, randomUUID }));

  define("queueMicrotask", (fn) => { if (typeof fn !== "function") throw new TypeError("queueMicrotask: callback is not a function"); Promise.resolve().then(fn); });

  // Timers belong to invocations: they fire only while one is running, and are dropped when the last one ends.
  const timers = new Map();
  let nextId = 1;
  const arm = (fn, ms, args, repeat) => {
    if (typeof fn !== "function") throw new TypeError((repeat ? "setInterval" : "setTimeout") + ": callback is not a function (strings are not evaluated)");
    const id = nextId++;
    // Outside an invocation a timer is accepted and never fires.
    if (!rt.active()) return id;
    const delay = Math.max(0, Number(ms) || 0);
    timers.set(id, { run: () => fn(...args), delay: repeat ? Math.max(1, delay) : delay, repeat });
    timerSet(id, timers.get(id).delay);
    return id;
  };
  const clear = (id) => { if (timers.delete(id)) timerClear(id); };
  define("setTimeout", (fn, ms = 0, ...args) => arm(fn, ms, args, false));
  define("setInterval", (fn, ms = 0, ...args) => arm(fn, ms, args, true));
  define("clearTimeout", clear);
  define("clearInterval", clear);
  const fire = (id) => {
    const t = timers.get(id);
    if (!t || !rt.active()) return;
    if (t.repeat) timerSet(id, t.delay);
    else timers.delete(id);
    try { t.run(); } catch (err) { console.error("Uncaught exception in a timer callback:", err); }
  };
  rt.onIdle(() => {
    for (const id of timers.keys()) timerClear(id);
    timers.clear();
  });
  return fire;
}
`;
