/**
 * `nex up`: the embedded default. If nothing answers at the NATS URL, start a local nats-server with JetStream,
 * then a node, in one foreground command. Ctrl-C stops both.
 */
import { join } from "node:path";
import { Command } from "commander";
import { NexError } from "../../contract/index.js";
import { connectNats } from "../../nats/connect.js";
import { NATS_SERVER_INSTALL_HINT, findNatsServer, startNatsServer, type NatsServer } from "../../nats/server.js";
import { defaultDataDir } from "../../node/options.js";
import { action, connectionOf } from "../common.js";
import { nodeOptionsFrom, nodeUpOptions, runNodeForeground, type NodeUpFlags } from "./node.js";

async function natsAnswers(url: string[]): Promise<boolean> {
  try {
    const nc = await connectNats({ servers: url }, "nex-up-probe", false);
    await nc.close();
    return true;
  } catch {
    return false;
  }
}

/** `nex up` */
export function upCommand(): Command {
  return nodeUpOptions(
    new Command("up").description("start NATS (if none answers) and a node, in the foreground; Ctrl-C stops both"),
  ).action(
    action(async (flags: NodeUpFlags, cmd: Command) => {
      const conn = connectionOf(cmd);
      const dataDir = flags.dataDir ?? defaultDataDir();
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
        server = await startNatsServer({
          port: Number(url.port || 4222),
          host: url.hostname === "localhost" ? "127.0.0.1" : url.hostname.replace(/^\[|\]$/g, ""),
          storeDir: join(dataDir, "jetstream"),
        });
        process.stdout.write(`started nats-server (JetStream in ${join(dataDir, "jetstream")}) at ${server.url}\n`);
        conn.servers = [server.url];
      }
      const opts = nodeOptionsFrom(cmd, flags, {
        connection: conn,
        dataDir,
        seedFile: flags.seedFile ?? join(dataDir, "node.seed"),
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
