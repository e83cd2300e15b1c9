/**
 * `nex up`: the embedded default. If nothing answers at the NATS URL, start a local nats-server with JetStream in
 * operator mode (keys and credentials in the nex home, so every other command on this machine finds them), then a
 * node, in one foreground command, and the dashboard (`nex ui`) of the namespace. Ctrl-C stops all of it.
 */
import { join } from "node:path";
import { AuthorizationError } from "@nats-io/nats-core";
import { Command } from "commander";
import { AuthHome, NEX_ACCOUNT, writeSecret } from "../../auth/home.js";
import { pushAccounts } from "../../auth/resolver.js";
import { NexError } from "../../contract/index.js";
import { connectNats, type ConnectionConfig } from "../../nats/connect.js";
import { NATS_SERVER_INSTALL_HINT, findNatsServer, startNatsServer, type NatsServer } from "../../nats/server.js";
import type { Dashboard } from "../../ui/index.js";
import { action, connectionOf, globals, intFlag, nexHome } from "../common.js";
import { nodeOptionsFrom, nodeUpOptions, runNodeForeground, type NodeUpFlags } from "./node.js";
import { UI_DEFAULTS, serveDashboard } from "./ui.js";

async function natsAnswers(url: string[]): Promise<boolean> {
  try {
    const nc = await connectNats({ servers: url }, "nex-up-probe", false);
    await nc.close();
    return true;
  } catch (err) {
    // A server that wants credentials answers too.
    return err instanceof AuthorizationError;
  }
}

/** Pushes every account the home knows to the server's resolver (idempotent: the resolver keeps the newest). */
export async function pushHomeAccounts(home: AuthHome, servers: string[], dir: string): Promise<void> {
  const sysCreds = join(dir, "auth", "sys.creds");
  writeSecret(sysCreds, home.systemCreds());
  const sys = await connectNats({ servers, credsFile: sysCreds }, "nex-up-sys", false);
  try {
    await pushAccounts(sys, home.namespaces().map((a) => a.jwt), [home.operatorSigner().getPublicKey()]);
  } finally {
    await sys.close();
  }
}

interface UpFlags extends NodeUpFlags {
  wsPort: string;
  ui: boolean;
  uiPort: string;
}

/**
 * The dashboard next to the node. Its page reads NATS at the websocket port on the NATS server's host. A dashboard
 * that cannot start (its port is taken) is a warning: the node runs all the same.
 */
async function upDashboard(cmd: Command, flags: UpFlags, natsUrl: string): Promise<Dashboard | undefined> {
  if (!flags.ui) return undefined;
  if (!AuthHome.exists(nexHome()) && (globals(cmd).creds || globals(cmd).nkey || globals(cmd).user || globals(cmd).token)) {
    process.stderr.write("nex up: no dashboard: the credentials given are the node's; run `nex ui` with a namespace's own\n");
    return undefined;
  }
  const u = new URL(natsUrl.includes("://") ? natsUrl : `nats://${natsUrl}`);
  const host = ["0.0.0.0", "localhost", "[::]", ""].includes(u.hostname) ? "127.0.0.1" : u.hostname;
  const ws = `ws://${host}:${intFlag(flags.wsPort, "--ws-port", 1)!}`;
  try {
    return await serveDashboard(cmd, { host: UI_DEFAULTS.host, port: intFlag(flags.uiPort, "--ui-port", 0)!, ws: [ws] });
  } catch (err) {
    process.stderr.write(`nex up: no dashboard: ${(err as Error).message} (--ui-port picks another port, --no-ui turns it off)\n`);
    return undefined;
  }
}

/** `nex up` */
export function upCommand(): Command {
  return nodeUpOptions(
    new Command("up").description("start NATS (if none answers) in operator mode and a node, in the foreground; Ctrl-C stops both"),
  )
    .option("--ws-port <port>", "websocket port of the embedded server, for the dashboard", "4280")
    .option("--ui-port <port>", "port of the dashboard on 127.0.0.1 (0 picks a free one)", String(UI_DEFAULTS.port))
    .option("--no-ui", "do not serve the dashboard")
    .action(
      action(async (flags: UpFlags, cmd: Command) => {
        if (flags.dataDir) process.env["NEX_HOME"] = flags.dataDir;
        const dir = nexHome();
        let conn: ConnectionConfig = connectionOf(cmd, true);
        let server: NatsServer | undefined;
        if (await natsAnswers(conn.servers)) {
          process.stdout.write(`using the NATS server at ${conn.servers.join(",")}\n`);
        } else {
          if (!findNatsServer()) throw new NexError("NEX_E_NO_NODES", "no NATS server answers and nats-server is not installed", { hint: NATS_SERVER_INSTALL_HINT });
          const url = new URL(conn.servers[0]!.includes("://") ? conn.servers[0]! : `nats://${conn.servers[0]}`);
          if (!["127.0.0.1", "localhost", "0.0.0.0", "::1", "[::1]"].includes(url.hostname)) {
            throw new NexError("NEX_E_NO_NODES", `no NATS server answers at ${url.href}, and nex up only starts a local one`, {
              hint: "Start that server, or run `nex up` without -s to use a local one.",
            });
          }
          const home = await AuthHome.init(dir);
          const host = url.hostname === "localhost" ? "127.0.0.1" : url.hostname.replace(/^\[|\]$/g, "");
          const wsPort = intFlag(flags.wsPort, "--ws-port", 1)!;
          const websocket = `websocket { listen: "${host.includes(":") ? `[${host}]` : host}:${wsPort}", no_tls: true }`;
          server = await startNatsServer({
            port: Number(url.port || 4222),
            host,
            storeDir: join(dir, "jetstream"),
            extraConfig: `${home.serverConfig(join(dir, "nats", "jwt"))}\n${websocket}`,
          });
          await pushHomeAccounts(home, [server.url], dir);
          process.stdout.write(
            `started nats-server in operator mode (JetStream in ${join(dir, "jetstream")}) at ${server.url}, websocket on port ${wsPort}\n` +
              `  credentials: ${home.credsPath("default")} (namespace default), ${home.credsPath(NEX_ACCOUNT)} (control plane)\n`,
          );
          conn = { ...conn, servers: [server.url], credsFile: home.credsPath(NEX_ACCOUNT) };
        }
        const opts = nodeOptionsFrom(cmd, flags, {
          connection: conn,
          dataDir: dir,
          seedFile: flags.seedFile ?? join(dir, "node.seed"),
          ...(AuthHome.exists(dir) ? { authHome: dir } : {}),
        });
        const ui = await upDashboard(cmd, flags, conn.servers[0]!);
        const stopServer = async (): Promise<void> => {
          await ui?.stop();
          if (!server) return;
          process.stderr.write("stopping nats-server…\n");
          await server.stop();
          server = undefined;
        };
        try {
          await runNodeForeground(opts, stopServer);
        } finally {
          await stopServer();
        }
      }),
    );
}
