/**
 * `nex ui`: the web dashboard of one namespace (`-n`, default `default`), served on loopback. It opens nothing: it
 * prints the URL, which carries the token the page shows to get its credentials. The page reads NATS itself, over
 * the server's websocket listener (`--ws`; `nex up` starts one on port 4280).
 */
import { Command } from "commander";
import { DEFAULT_NAMESPACE, NexError } from "../../contract/index.js";
import type { ConnectionConfig } from "../../nats/connect.js";
import { resolveConnection } from "../../nats/connect.js";
import { dashboardToken, pageAccessSource, startDashboard, type Dashboard } from "../../ui/index.js";
import { action, globals, intFlag, nexHome } from "../common.js";

/** Where the dashboard listens when no flag says otherwise. */
export const UI_DEFAULTS = { host: "127.0.0.1", port: 4290, ws: "ws://127.0.0.1:4280" } as const;

/** Where a dashboard listens and which NATS websocket its page uses. */
export interface ServeOptions {
  host: string;
  port: number;
  ws: string[];
  /** Credentials from the command line, which the page then gets instead of a user minted from the home. */
  explicit?: ConnectionConfig;
}

/** Starts the dashboard for the command's namespace and prints its URL. */
export async function serveDashboard(cmd: Command, o: ServeOptions): Promise<Dashboard> {
  const ns = globals(cmd).namespace ?? DEFAULT_NAMESPACE;
  const home = nexHome();
  const access = pageAccessSource({ namespace: ns, wsServers: o.ws, home, explicit: o.explicit });
  const ui = await startDashboard({ host: o.host, port: o.port, wsServers: o.ws, token: dashboardToken(home), access });
  process.stdout.write(`dashboard of namespace ${ns}: ${ui.url}\n  (its page reads NATS at ${o.ws.join(", ")})\n`);
  return ui;
}

/** Splits a comma-separated `--ws` value. */
export function wsList(value: string): string[] {
  const list = value.split(",").map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new NexError("NEX_E_INVALID_FIELD", "--ws: give a ws:// URL");
  return list;
}

/** `nex ui` */
export function uiCommand(): Command {
  return new Command("ui")
    .description("serve the web dashboard of one namespace on localhost (prints its URL; opens nothing)")
    .option("--port <port>", "HTTP port (0 picks a free one)", String(UI_DEFAULTS.port))
    .option("--host <address>", "loopback address to listen on", UI_DEFAULTS.host)
    .option("--ws <urls>", "NATS websocket URL(s) the page connects to, comma-separated", UI_DEFAULTS.ws)
    .action(
      action(async (f: { port: string; host: string; ws: string }, cmd: Command) => {
        // Listening for the signals before the URL is printed: whoever reads it may stop us at once.
        const signalled = new Promise<void>((resolve) => {
          process.once("SIGINT", () => resolve());
          process.once("SIGTERM", () => resolve());
        });
        const ui = await serveDashboard(cmd, { host: f.host, port: intFlag(f.port, "--port", 0)!, ws: wsList(f.ws), explicit: resolveConnection(globals(cmd)) });
        await signalled;
        await ui.stop();
      }),
    );
}
