/**
 * The host-service API as functions see it: `kv`, `objectStore`, `messaging`, `http` and `fetch`.
 * A function `(rt, host) => void`: `host` is a Reference to one async host dispatcher, called with
 * `applySyncPromise`, which blocks the isolate (not the host's event loop) until the host settles; each call is
 * synchronous for the function. `rt` is the prelude's invocation state: a call made after the invocation settled
 * (from a leftover timer or promise chain) is refused here, and again by the host. Runs after WEB_SOURCE and
 * URL_SOURCE.
 */
export const API_SOURCE = String.raw`
(rt, host) => {
  const enc = new TextEncoder(), dec = new TextDecoder();

  class HostServiceError extends Error {
    constructor(message) { super(message); this.name = "HostServiceError"; this.code = "NEX_E_HOST_SERVICE"; }
  }
  // isolated-vm reads options through the prototype chain: no prototype, so nothing a user put on Object.prototype counts.
  const options = Object.freeze({ __proto__: null, arguments: Object.freeze({ __proto__: null, copy: true }) });
  const call = (op, args, text) => {
    if (!rt.active()) throw new HostServiceError("host services answer only while an invocation runs; this call came after its invocation settled");
    let r;
    try {
      r = host.applySyncPromise(undefined, [op, args, text === true, rt.span()], options);
    } catch (err) {
      // A fresh error, so no host stack frame reaches the function.
      throw new HostServiceError(String(err && err.message !== undefined ? err.message : err));
    }
    return r === undefined ? null : r;
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

  define("kv", (bucket) => {
    str(bucket, "kv(bucket): bucket");
    return Object.freeze({
      get: (key) => call("kv.get", [bucket, str(key, "kv.get: key")]),
      set: (key, value) => call("kv.set", [bucket, str(key, "kv.set: key"), bytes(value, "kv.set")]),
      put: (key, value) => call("kv.set", [bucket, str(key, "kv.put: key"), bytes(value, "kv.put")]),
      delete: (key) => { call("kv.delete", [bucket, str(key, "kv.delete: key")]); },
      keys: (filter) => call("kv.keys", [bucket, filter === undefined ? undefined : String(filter)]),
    });
  });

  define("objectStore", (bucket) => {
    str(bucket, "objectStore(bucket): bucket");
    return Object.freeze({
      get: (name) => call("obj.get", [bucket, str(name, "objectStore.get: name")]),
      put: (name, data) => call("obj.put", [bucket, str(name, "objectStore.put: name"), bytes(data, "objectStore.put")]),
      delete: (name) => call("obj.delete", [bucket, str(name, "objectStore.delete: name")]),
      list: () => call("obj.list", [bucket]),
    });
  });

  const num = (v) => (v === undefined || v === null ? undefined : Number(v));
  define("messaging", Object.freeze({
    publish: (subject, data) => { call("msg.publish", [str(subject, "messaging.publish: subject"), bytes(data, "messaging.publish")]); },
    request: (subject, data, opts = {}) => call("msg.request", [str(subject, "messaging.request: subject"), bytes(data, "messaging.request"), num(opts.timeoutMs)]),
    requestMany: (subject, data, opts = {}) =>
      call("msg.requestMany", [str(subject, "messaging.requestMany: subject"), bytes(data, "messaging.requestMany"), num(opts.maxWaitMs), num(opts.maxMessages)]),
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
  const httpCall = (method, url, body, opts) => {
    if (opts === undefined && isOpts(body)) { opts = body; body = undefined; }
    opts = opts || {};
    // The host decodes the body: faster than decoding it here.
    return call("http", [method, String(url), plainHeaders(opts.headers), body === undefined ? undefined : bytes(body, "http." + method), num(opts.timeoutMs)], true);
  };
  const http = {};
  for (const m of ["get", "post", "put", "patch", "delete", "head"]) http[m] = (url, body, opts) => httpCall(m, url, body, opts);
  define("http", Object.freeze(http));

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
  define("fetch", (input, init = {}) => {
    try {
      const url = new URL(typeof input === "string" || input instanceof URL ? String(input) : input.url).href;
      const method = String(init.method || "GET").toLowerCase();
      if (!http[method]) throw new TypeError("fetch: unsupported method " + init.method);
      const headers = new Headers(init.headers);
      const body = bodyOf(init.body, headers);
      if (body !== undefined && (method === "get" || method === "head")) throw new TypeError("fetch: a " + method.toUpperCase() + " request cannot have a body");
      const r = call("http", [method, url, plainHeaders(headers), body, num(init.timeoutMs)]);
      return Promise.resolve(new Response(r.body, { status: r.status, headers: r.headers, url }));
    } catch (err) {
      const e = err instanceof TypeError ? err : new TypeError("fetch failed: " + err.message);
      return Promise.reject(e);
    }
  });
}
`;
