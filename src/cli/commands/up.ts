/**
 * `nex up`: the embedded default. If nothing answers at the NATS URL, start a local nats-server with JetStream in
 * operator mode (keys and credentials in the nex home, so every other command on this machine finds them), then a
 * node, in one foreground command. Ctrl-C stops both.
 */
import { join } from "node:path";
import { AuthorizationError } from "@nats-io/nats-core";
import { Command } from "commander";
import { AuthHome, NEX_ACCOUNT, writeSecret } from "../../auth/home.js";
import { pushAccounts } from "../../auth/resolver.js";
import { NexError } from "../../contract/index.js";
import { connectNats, type ConnectionConfig } from "../../nats/connect.js";
import { NATS_SERVER_INSTALL_HINT, findNatsServer, startNatsServer, type NatsServer } from "../../nats/server.js";
import { action, connectionOf, intFlag, nexHome } from "../common.js";
import { nodeOptionsFrom, nodeUpOptions, runNodeForeground, type NodeUpFlags } from "./node.js";

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
}

/** `nex up` */
export function upCommand(): Command {
  return nodeUpOptions(
    new Command("up").description("start NATS (if none answers) in operator mode and a node, in the foreground; Ctrl-C stops both"),
  )
    .option("--ws-port <port>", "websocket port of the embedded server, for the dashboard", "4280")
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
        const stopServer = async (): Promise<void> => {
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
