/**
 * The HTTP client behind functions' `http.*` and `fetch`. Response bodies are read as a stream and the request is
 * aborted as soon as the body passes the cap, so a huge response never sits in memory first.
 */
import { hostError, type HttpRequest, type HttpResponse } from "./types.js";

/** Bounds of one HTTP call. */
export interface HttpLimits {
  timeoutMs: number;
  maxBodyBytes: number;
}

function parseUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw hostError("http", "invalid", `invalid URL "${url.slice(0, 200)}"`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw hostError("http", "invalid", `only http and https URLs are allowed, not ${u.protocol}`);
  return u;
}

/** Reads a body stream up to `max` bytes; aborts the request past it. */
async function readCapped(res: Response, max: number, abort: AbortController): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > max) {
    abort.abort();
    throw hostError("http", "limit", `response body is ${declared} bytes, larger than the ${max}-byte limit`);
  }
  if (!res.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      abort.abort();
      await reader.cancel().catch(() => undefined);
      throw hostError("http", "limit", `response body is larger than the ${max}-byte limit`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

/** Makes one HTTP request within `limits`. */
export async function httpRequest(req: HttpRequest, limits: HttpLimits): Promise<HttpResponse> {
  const u = parseUrl(req.url);
  const method = req.method.toUpperCase();
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error("timeout")), limits.timeoutMs);
  try {
    const res = await fetch(u, {
      method,
      headers: req.headers,
      body: req.body && method !== "GET" && method !== "HEAD" ? req.body : undefined,
      signal: abort.signal,
      redirect: "follow",
    });
    const body = await readCapped(res, limits.maxBodyBytes, abort);
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => (headers[k] = v));
    return { status: res.status, headers, body };
  } catch (err) {
    if (err instanceof Error && err.name === "NexError") throw err;
    const e = err as Error & { cause?: Error };
    if (abort.signal.aborted) throw hostError("http", "timeout", `${method} ${u.href} failed: timed out after ${limits.timeoutMs} ms`);
    throw hostError("http", "failed", `${method} ${u.href} failed: ${e.message}${e.cause ? ` (${e.cause.message})` : ""}`);
  } finally {
    clearTimeout(timer);
  }
}
