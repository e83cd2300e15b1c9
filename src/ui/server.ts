/**
 * The dashboard's HTTP server: the page, its script and style, and `/api/connection`, which hands the page one
 * namespace's NATS credentials. It listens on loopback only, answers only requests addressed to that loopback name
 * (a DNS-rebound name or another site's origin is refused), and gives credentials only to a request that carries the
 * dashboard's token (printed with the URL, kept in the URL's fragment so it never reaches a log or a referrer).
 *
 * ```ts
 * const ui = await startDashboard({ host: "127.0.0.1", port: 4290, wsServers: ["ws://127.0.0.1:4280"], token, access });
 * console.log(ui.url); await ui.stop();
 * ```
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { isIP } from "node:net";
import { NexError } from "../contract/index.js";
import { pageAssets, type PageAssets } from "./bundle.js";
import type { PageAccess } from "./model.js";

/** Where the dashboard listens, and what it hands out. */
export interface DashboardOptions {
  /** A loopback address or `localhost`. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Websocket URLs of NATS, as the browser reaches them (also what the page's content policy lets it connect to). */
  wsServers: string[];
  /** What a page must show to get credentials. */
  token: string;
  /** One page's credentials. */
  access: () => Promise<PageAccess>;
}

/** A running dashboard. */
export interface Dashboard {
  /** The page's address with the token in its fragment: what a person opens. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** True for 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h === "::1") return true;
  return isIP(h) === 4 && h.startsWith("127.");
}

function hostPart(host: string): string {
  const h = host.replace(/^\[|\]$/g, "");
  return isIP(h) === 6 ? `[${h}]` : h;
}

/** A content policy that lets the page run only its own script and reach only its server and NATS. */
function contentPolicy(wsServers: string[]): string {
  const ws = wsServers.map((s) => new URL(s).origin).join(" ");
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${ws}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

function tokenMatches(given: string | undefined, token: string): boolean {
  const m = /^Bearer (.+)$/.exec(given ?? "");
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Starts the dashboard's server. */
export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  if (!isLoopback(opts.host)) {
    throw new NexError("NEX_E_INVALID_FIELD", `--host: ${opts.host} is not a loopback address; the dashboard hands out credentials and listens on loopback only`, {
      hint: "Use 127.0.0.1 (the default), ::1 or localhost; to look from another machine, forward the port (ssh -L 4290:127.0.0.1:4290 …).",
    });
  }
  for (const s of opts.wsServers) {
    let u: URL | undefined;
    try {
      u = new URL(s);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== "ws:" && u.protocol !== "wss:")) throw new NexError("NEX_E_INVALID_FIELD", `--ws: ${JSON.stringify(s)} is not a ws:// or wss:// URL`);
  }
  const assets = await pageAssets();
  const csp = contentPolicy(opts.wsServers);
  const allowedHosts = new Set<string>();
  const server = createServer((req, res) => {
    handle(req, res, { ...opts, assets, csp, allowedHosts }).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, "text/plain; charset=utf-8", `dashboard: ${(err as Error).message}\n`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new NexError("NEX_E_CONFLICT", `port ${opts.port} on ${opts.host} is in use`, { hint: "Pick another with --port (or --ui-port for nex up), or stop what holds it." })
          : err,
      ),
    );
    server.listen(opts.port, opts.host.replace(/^\[|\]$/g, ""), () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  // Names that reach this listener; a request naming any other host came through a name we do not own.
  for (const h of [`${hostPart(opts.host)}:${port}`, `localhost:${port}`]) allowedHosts.add(h.toLowerCase());
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${hostPart(opts.host)}:${port}/#token=${opts.token}`,
    port,
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

interface Context extends DashboardOptions {
  assets: PageAssets;
  csp: string;
  allowedHosts: Set<string>;
}

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    "Content-Type": type,
    "Content-Length": Buffer.byteLength(body),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    ...extra,
  });
  res.end(body);
}

async function handle(req: IncomingMessage, res: ServerResponse, ctx: Context): Promise<void> {
  const host = (req.headers.host ?? "").toLowerCase();
  if (!ctx.allowedHosts.has(host)) return send(res, 403, "text/plain; charset=utf-8", "dashboard: this server answers only to its loopback address\n");
  const origin = req.headers.origin;
  if (origin !== undefined && !ctx.allowedHosts.has(origin.toLowerCase().replace(/^http:\/\//, ""))) {
    return send(res, 403, "text/plain; charset=utf-8", "dashboard: requests from other origins are refused\n");
  }
  if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain; charset=utf-8", "dashboard: only GET\n", { Allow: "GET, HEAD" });
  const path = new URL(req.url ?? "/", "http://x").pathname;
  switch (path) {
    case "/":
    case "/index.html":
      return send(res, 200, "text/html; charset=utf-8", ctx.assets.html, { "Content-Security-Policy": ctx.csp, "Cache-Control": "no-cache" });
    case "/app.js":
      return send(res, 200, "text/javascript; charset=utf-8", ctx.assets.js, { "Cache-Control": "no-cache" });
    case "/app.css":
      return send(res, 200, "text/css; charset=utf-8", ctx.assets.css, { "Cache-Control": "no-cache" });
    case "/api/connection": {
      const site = req.headers["sec-fetch-site"];
      if ((site !== undefined && site !== "same-origin") || !tokenMatches(req.headers.authorization, ctx.token)) {
        return send(res, 401, "application/json", JSON.stringify({ error: "the dashboard token is missing or wrong: open the URL that nex ui printed" }), {
          "Cache-Control": "no-store",
        });
      }
      return send(res, 200, "application/json", JSON.stringify(await ctx.access()), { "Cache-Control": "no-store" });
    }
    default:
      return send(res, 404, "text/plain; charset=utf-8", "dashboard: not found\n");
  }
}
