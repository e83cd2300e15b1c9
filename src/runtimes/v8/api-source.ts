/**
 * The host-service API as functions see it: `kv`, `objectStore`, `messaging`, `http` and `fetch`.
 * A function `(rt, host) => void`: `host` is a Reference to the host's dispatcher. Every host object has two faces
 * over the same operations:
 * - synchronous (`kv("b").get(k)`): `host.applySyncPromise`, which blocks the isolate (not the host's event loop)
 *   until the host settles, so code reads top to bottom and other invocations of the function wait meanwhile;
 * - asynchronous (`kv("b").async.get(k)`, and `fetch`): `rt.request`, which posts the call to the prelude's outbox
 *   and returns a promise at once; the isolate runs other invocations while the host works, and the promise settles
 *   in a later trip into the isolate (see the prelude).
 * `rt` is the prelude's invocation state: a call made after the invocation settled (from a leftover timer or promise
 * chain) is refused here, and again by the host. Runs after WEB_SOURCE and URL_SOURCE.
 */
export const API_SOURCE = String.raw`
(rt, host) => {
  const enc = new TextEncoder(), dec = new TextDecoder();
  const apply = Reflect.apply, then = Promise.prototype.then, P = Promise, promiseReject = Promise.reject, freeze = Object.freeze;
  const rejected = (e) => apply(promiseReject, P, [e]);

  class HostServiceError extends Error {
    constructor(message) { super(message); this.name = "HostServiceError"; this.code = "NEX_E_HOST_SERVICE"; }
  }
  const refused = "host services answer only while an invocation runs; this call came after its invocation settled";
  // A fresh error, so no host stack frame reaches the function (async calls are rejected with the message alone).
  const fresh = (err) => new HostServiceError(String(err && err.message !== undefined ? err.message : err));
  // isolated-vm reads options through the prototype chain: no prototype, so nothing a user put on Object.prototype counts.
  const syncOptions = freeze({ __proto__: null, arguments: freeze({ __proto__: null, copy: true }) });
  const call = (op, args, text) => {
    if (!rt.active()) throw new HostServiceError(refused);
    let r;
    try {
      r = host.applySyncPromise(undefined, [op, args, text === true, rt.span()], syncOptions);
    } catch (err) {
      throw fresh(err);
    }
    return r === undefined ? null : r;
  };
  const orNull = (r) => (r === undefined ? null : r);
  const rethrow = (err) => { throw fresh(err); };
  const topLevel = "the top-level code cannot wait on async host calls (no trip into the isolate would bring the result): use the synchronous call there";
  const callAsync = (op, args, text) => {
    if (!rt.active()) return rejected(new HostServiceError(refused));
    if (rt.loading()) return rejected(new HostServiceError(topLevel));
    return apply(then, rt.request(op, args, text), [orNull, rethrow]);
  };
  const nothing = () => undefined;
  // One operation's two faces: make(args) checks the arguments (a TypeError) and builds what the host gets; an
  // operation that answers nothing (delete, publish) returns undefined.
  const op = (name, make, text, answers = true) => [
    (...a) => { const r = call(name, make(a), text); return answers ? r : undefined; },
    (...a) => {
      let args;
      try { args = make(a); } catch (e) { return rejected(e); }
      const p = callAsync(name, args, text);
      return answers ? p : apply(then, p, [nothing]);
    },
  ];
  // An object of synchronous methods, and under .async the same methods returning promises.
  const face = (ops) => {
    const sync = {}, promised = {};
    for (const k of Object.keys(ops)) {
      sync[k] = ops[k][0];
      promised[k] = ops[k][1];
    }
    sync.async = freeze(promised);
    return freeze(sync);
  };
  const bytes = (v, what) => {
    if (typeof v === "string") return v;
    if (v instanceof Uint8Array) return v;
    if (v instanceof ArrayBuffer) return new Uint8Array(v);
    if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    if (v === undefined || v === null) return new Uint8Array(0);
    throw new TypeError(what + ": the value must be a string or a Uint8Array, not " + (typeof v));
  };
  const str = (v, what) => {
    if (typeof v !== "string" || v.length === 0) throw new TypeError(what + " must be a non-empty string");
    return v;
  };
  const define = (name, value) => Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });

  const num = (v) => (v === undefined || v === null ? undefined : Number(v));

  // Handles are frozen and hold no invocation state, so one per bucket is kept (a few, for hot paths like kv("b").get).
  const cached = (make) => {
    const cache = new Map();
    return (bucket) => {
      let h = cache.get(bucket);
      if (h === undefined) {
        h = make(bucket);
        if (cache.size >= 64) cache.clear();
        cache.set(bucket, h);
      }
      return h;
    };
  };

  define("kv", cached((bucket) => {
    str(bucket, "kv(bucket): bucket");
    const key = (k, what) => str(k, "kv." + what + ": key");
    return face({
      get: op("kv.get", (a) => [bucket, key(a[0], "get")]),
      set: op("kv.set", (a) => [bucket, key(a[0], "set"), bytes(a[1], "kv.set")]),
      put: op("kv.set", (a) => [bucket, key(a[0], "put"), bytes(a[1], "kv.put")]),
      delete: op("kv.delete", (a) => [bucket, key(a[0], "delete")], false, false),
      keys: op("kv.keys", (a) => [bucket, a[0] === undefined ? undefined : String(a[0])]),
    });
  }));

  define("objectStore", cached((bucket) => {
    str(bucket, "objectStore(bucket): bucket");
    const name = (n, what) => str(n, "objectStore." + what + ": name");
    return face({
      get: op("obj.get", (a) => [bucket, name(a[0], "get")]),
      put: op("obj.put", (a) => [bucket, name(a[0], "put"), bytes(a[1], "objectStore.put")]),
      delete: op("obj.delete", (a) => [bucket, name(a[0], "delete")]),
      list: op("obj.list", () => [bucket]),
    });
  }));

  const opts = (o) => (o === undefined || o === null ? {} : o);
  define("messaging", face({
    publish: op("msg.publish", (a) => [str(a[0], "messaging.publish: subject"), bytes(a[1], "messaging.publish")], false, false),
    request: op("msg.request", (a) => [str(a[0], "messaging.request: subject"), bytes(a[1], "messaging.request"), num(opts(a[2]).timeoutMs)]),
    requestMany: op("msg.requestMany", (a) =>
      [str(a[0], "messaging.requestMany: subject"), bytes(a[1], "messaging.requestMany"), num(opts(a[2]).maxWaitMs), num(opts(a[2]).maxMessages)]),
  }));

  const plainHeaders = (h) => {
    const out = {};
    if (!h) return out;
    if (typeof h.forEach === "function" && !Array.isArray(h)) { h.forEach((v, k) => { out[String(k).toLowerCase()] = String(v); }); return out; }
    const entries = Array.isArray(h) ? h : Object.entries(h);
    for (const [k, v] of entries) out[String(k).toLowerCase()] = String(v);
    return out;
  };
  const isOpts = (v) => v !== null && typeof v === "object" && !ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer);
  // The host decodes the body: faster than decoding it here.
  const httpArgs = (method) => (a) => {
    const url = a[0];
    let body = a[1], o = a[2];
    if (o === undefined && isOpts(body)) { o = body; body = undefined; }
    o = o || {};
    return [method, String(url), plainHeaders(o.headers), body === undefined ? undefined : bytes(body, "http." + method), num(o.timeoutMs)];
  };
  const httpOps = { __proto__: null };
  for (const m of ["get", "post", "put", "patch", "delete", "head"]) httpOps[m] = op("http", httpArgs(m), true);
  const http = face(httpOps);
  define("http", http);

  class Headers {
    #map = new Map();
    constructor(init) { if (init) for (const [k, v] of Object.entries(plainHeaders(init))) this.#map.set(k, v); }
    append(k, v) { k = String(k).toLowerCase(); const old = this.#map.get(k); this.#map.set(k, old === undefined ? String(v) : old + ", " + v); }
    set(k, v) { this.#map.set(String(k).toLowerCase(), String(v)); }
    get(k) { const v = this.#map.get(String(k).toLowerCase()); return v === undefined ? null : v; }
    has(k) { return this.#map.has(String(k).toLowerCase()); }
    delete(k) { this.#map.delete(String(k).toLowerCase()); }
    forEach(fn, self) { for (const [k, v] of this.entries()) fn.call(self, v, k, this); }
    *entries() { yield* [...this.#map].sort((a, b) => (a[0] < b[0] ? -1 : 1)); }
    *keys() { for (const [k] of this.entries()) yield k; }
    *values() { for (const [, v] of this.entries()) yield v; }
    [Symbol.iterator]() { return this.entries(); }
  }

  class Response {
    #body; #used = false;
    constructor(body, init = {}) {
      this.#body = body === undefined || body === null ? new Uint8Array(0) : typeof body === "string" ? enc.encode(body) : bytes(body, "Response");
      this.status = init.status === undefined ? 200 : init.status;
      this.statusText = init.statusText || "";
      this.headers = init.headers instanceof Headers ? init.headers : new Headers(init.headers);
      this.url = init.url || "";
      this.ok = this.status >= 200 && this.status < 300;
      this.redirected = false;
      this.type = "basic";
    }
    get bodyUsed() { return this.#used; }
    #take() {
      if (this.#used) return Promise.reject(new TypeError("Response body has already been read"));
      this.#used = true;
      return Promise.resolve(this.#body);
    }
    arrayBuffer() { return this.#take().then((b) => b.slice().buffer); }
    bytes() { return this.#take().then((b) => b.slice()); }
    text() { return this.#take().then((b) => dec.decode(b)); }
    json() { return this.text().then((t) => JSON.parse(t)); }
    clone() {
      if (this.#used) throw new TypeError("Response body has already been read");
      return new Response(this.#body.slice(), { status: this.status, statusText: this.statusText, headers: new Headers(this.headers), url: this.url });
    }
  }

  const bodyOf = (body, headers) => {
    if (body === undefined || body === null) return undefined;
    if (body instanceof URLSearchParams) {
      if (!headers.has("content-type")) headers.set("content-type", "application/x-www-form-urlencoded;charset=UTF-8");
      return body.toString();
    }
    if (typeof body === "string" && !headers.has("content-type")) headers.set("content-type", "text/plain;charset=UTF-8");
    return bytes(body, "fetch");
  };
  define("Headers", Headers);
  define("Response", Response);
  const fetchFailed = (err) => { throw err instanceof TypeError ? err : new TypeError("fetch failed: " + err.message); };
  define("fetch", (input, init = {}) => {
    let url, method, headers, body;
    try {
      url = new URL(typeof input === "string" || input instanceof URL ? String(input) : input.url).href;
      method = String(init.method || "GET").toLowerCase();
      if (!httpOps[method]) throw new TypeError("fetch: unsupported method " + init.method);
      headers = new Headers(init.headers);
      body = bodyOf(init.body, headers);
      if (body !== undefined && (method === "get" || method === "head")) throw new TypeError("fetch: a " + method.toUpperCase() + " request cannot have a body");
    } catch (err) {
      return rejected(err instanceof TypeError ? err : new TypeError("fetch failed: " + err.message));
    }
    const res = (r) => new Response(r.body, { status: r.status, headers: r.headers, url });
    return apply(then, callAsync("http", [method, url, plainHeaders(headers), body, num(init.timeoutMs)]), [res, fetchFailed]);
  });
}
`;
