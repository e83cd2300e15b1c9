/**
 * The HTTP client behind functions' `http.*` and `fetch`, on node:http and node:https. Every hop (the first request
 * and each redirect, followed here, at most 10) passes the egress policy, and the socket connects to the very
 * addresses the policy checked. Response bodies are read as a stream and the request is aborted as soon as the body
 * passes the cap, so a huge response never sits in memory first; compressed bodies are capped after decompression.
 */
import { request as httpRequestRaw, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { request as httpsRequestRaw } from "node:https";
import type { LookupFunction } from "node:net";
import type { Readable, Transform } from "node:stream";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { EgressPolicy, type CheckedAddress } from "./egress.js";
import { hostError, type HttpRequest, type HttpResponse } from "./types.js";

/** Bounds of one HTTP call. */
export interface HttpLimits {
  timeoutMs: number;
  maxBodyBytes: number;
  /** Where the call may go; default: the policy with an empty allow list. */
  egress?: EgressPolicy;
}

/** Redirects followed before the call fails. */
export const MAX_REDIRECTS = 10;

const DEFAULT_POLICY = new EgressPolicy();

/** Headers a redirect to another origin does not carry over. */
const CREDENTIAL_HEADERS = ["authorization", "cookie", "proxy-authorization"];

function parseUrl(url: string, base?: URL): URL {
  let u: URL;
  try {
    u = new URL(url, base);
  } catch {
    throw hostError("http", "invalid", `invalid URL "${url.slice(0, 200)}"`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw hostError("http", "invalid", `only http and https URLs are allowed, not ${u.protocol}`);
  return u;
}

/** A lookup that answers only with addresses the policy already checked. */
function pinnedLookup(addresses: CheckedAddress[]): LookupFunction {
  return ((_host: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) => {
    if (opts.all) cb(null, addresses);
    else cb(null, addresses[0]!.address, addresses[0]!.family);
  }) as LookupFunction;
}

/** One request/response exchange, without following redirects. */
interface Hop {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: Uint8Array;
}

function send(hop: Hop, addresses: CheckedAddress[], signal: AbortSignal): Promise<IncomingMessage> {
  const request = hop.url.protocol === "https:" ? httpsRequestRaw : httpRequestRaw;
  const headers: OutgoingHttpHeaders = { ...hop.headers };
  if (hop.body) headers["content-length"] = String(hop.body.byteLength);
  return new Promise((resolve, reject) => {
    const req = request(hop.url, { method: hop.method, headers, lookup: pinnedLookup(addresses), signal, agent: false }, resolve);
    req.once("error", reject);
    req.end(hop.body);
  });
}

/** `res` piped into a decompressor, with the response's failures passed on (pipe alone drops them). */
function through(res: IncomingMessage, z: Transform): Readable {
  res.once("error", (err) => z.destroy(err));
  res.once("close", () => res.complete || z.destroy(new Error("the response was cut off")));
  return res.pipe(z);
}

/** The decoded body stream: what the function reads, and what the cap counts. */
function decoded(res: IncomingMessage): Readable {
  switch ((res.headers["content-encoding"] ?? "").trim().toLowerCase()) {
    case "gzip":
    case "x-gzip":
      return through(res, createGunzip());
    case "deflate":
      return through(res, createInflate());
    case "br":
      return through(res, createBrotliDecompress());
    default:
      return res;
  }
}

/** Rejects when `signal` aborts, so a slow DNS answer cannot outlast the call's timeout. */
function bounded<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error("timeout"));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error("timeout"));
    signal.addEventListener("abort", onAbort, { once: true });
    void p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Reads a body stream up to `max` bytes; destroys the response past it. */
async function readCapped(res: IncomingMessage, max: number): Promise<Uint8Array> {
  const declared = Number(res.headers["content-length"] ?? "NaN");
  if (!res.headers["content-encoding"] && Number.isFinite(declared) && declared > max) {
    res.destroy();
    throw hostError("http", "limit", `response body is ${declared} bytes, larger than the ${max}-byte limit`);
  }
  const stream = decoded(res);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      const c = chunk as Buffer;
      total += c.byteLength;
      if (total > max) throw hostError("http", "limit", `response body is larger than the ${max}-byte limit`);
      chunks.push(c);
    }
  } finally {
    if (total > max || !res.complete) {
      stream.destroy();
      res.destroy();
    }
  }
  return Buffer.concat(chunks, total);
}

function plainHeaders(res: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

/** The next hop after a redirect, as browsers do it; undefined when `res` is not a redirect to follow. */
function redirected(hop: Hop, res: IncomingMessage): Hop | undefined {
  const status = res.statusCode ?? 0;
  const location = res.headers.location;
  if (![301, 302, 303, 307, 308].includes(status) || !location) return undefined;
  const url = parseUrl(location, hop.url);
  const headers = { ...hop.headers };
  if (url.origin !== hop.url.origin) for (const h of CREDENTIAL_HEADERS) delete headers[h];
  const toGet = (status === 303 && hop.method !== "HEAD") || ((status === 301 || status === 302) && hop.method === "POST");
  if (!toGet) return { url, method: hop.method, headers, body: hop.body };
  for (const h of Object.keys(headers)) if (h.startsWith("content-")) delete headers[h];
  return { url, method: "GET", headers };
}

function lowerCased(h: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) out[k.toLowerCase()] = v;
  return out;
}

/** Makes one HTTP request within `limits`. */
export async function httpRequest(req: HttpRequest, limits: HttpLimits): Promise<HttpResponse> {
  const policy = limits.egress ?? DEFAULT_POLICY;
  const method = req.method.toUpperCase();
  let hop: Hop = {
    url: parseUrl(req.url),
    method,
    headers: lowerCased(req.headers),
    body: req.body && method !== "GET" && method !== "HEAD" ? req.body : undefined,
  };
  const first = hop.url;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error("timeout")), limits.timeoutMs);
  try {
    for (let redirects = 0; ; redirects++) {
      const label = redirects === 0 ? `${method} ${first.href}` : `${method} ${first.href} (redirected to ${hop.url.href})`;
      const addresses = await bounded(policy.resolve(hop.url, label), abort.signal);
      const res = await send(hop, addresses, abort.signal);
      const next = redirected(hop, res);
      if (!next) {
        const body = await readCapped(res, limits.maxBodyBytes);
        return { status: res.statusCode ?? 0, headers: plainHeaders(res), body };
      }
      res.destroy();
      if (redirects >= MAX_REDIRECTS) throw hostError("http", "failed", `${method} ${first.href} failed: more than ${MAX_REDIRECTS} redirects`);
      hop = next;
    }
  } catch (err) {
    if (err instanceof Error && err.name === "NexError") throw err;
    const e = err as Error & { cause?: Error };
    if (abort.signal.aborted) throw hostError("http", "timeout", `${method} ${first.href} failed: timed out after ${limits.timeoutMs} ms`);
    throw hostError("http", "failed", `${method} ${first.href} failed: ${e.message}${e.cause ? ` (${e.cause.message})` : ""}`);
  } finally {
    clearTimeout(timer);
  }
}
