/**
 * The HTTP endpoint Prometheus scrapes: `GET /metrics` and nothing else. It binds to loopback unless told otherwise,
 * since metrics name every workload of every namespace the node serves.
 *
 * ```ts
 * const srv = await startMetricsServer({ host: "127.0.0.1", port: 9464 }, metrics);
 * srv.url;       // "http://127.0.0.1:9464/metrics"
 * await srv.close();
 * ```
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { NexError } from "../contract/index.js";
import type { NodeMetrics } from "./metrics.js";

/** A listening metrics endpoint. */
export interface MetricsServer {
  /** Where to scrape, with the port actually bound (the one asked for, or a free one for port 0). */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Starts serving `metrics` on `host:port`; fails with NEX_E_INVALID_FIELD when the address cannot be bound. */
export async function startMetricsServer(addr: { host: string; port: number }, metrics: NodeMetrics): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: scrape /metrics\n");
      return;
    }
    metrics.render().then(
      (text) => {
        res.writeHead(200, { "content-type": metrics.contentType });
        res.end(req.method === "HEAD" ? undefined : text);
      },
      (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${(err as Error).message}\n`),
    );
  });
  await listen(server, addr);
  const port = (server.address() as AddressInfo).port;
  const host = addr.host.includes(":") ? `[${addr.host}]` : addr.host;
  return {
    url: `http://${host}:${port}/metrics`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, addr: { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      reject(new NexError("NEX_E_INVALID_FIELD", `metrics-port: cannot listen on ${addr.host}:${addr.port} (${err.code ?? err.message})`));
    });
    server.listen(addr.port, addr.host, () => resolve());
  });
}
