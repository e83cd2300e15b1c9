/**
 * The `nex` CLI. Each command group lives in its own file under `commands/`. Importing this module runs nothing;
 * the executable is `bin/nex.mjs`, which calls `main()`.
 *
 * ```sh
 * nex up                                              # NATS (if needed) and a node
 * nex devrun ./echo.js --trigger_subject=echo         # deploy
 * nex req echo 'hello nex!'                           # invoke
 * nex ui                                              # the dashboard's URL
 * ```
 */
import { Command } from "commander";
import { VERSION } from "../contract/index.js";
import { addGlobalOptions } from "./common.js";
import { devrunCommand, runCommand } from "./commands/deploy.js";
import { eventsCommand, logsCommand } from "./commands/feeds.js";
import { dlqCommand } from "./commands/dlq.js";
import { inspectCommand } from "./commands/inspect.js";
import { lsCommand, stopCommand } from "./commands/ls.js";
import { nodeCommand } from "./commands/node.js";
import { pubCommand, reqCommand } from "./commands/req.js";
import { upCommand } from "./commands/up.js";
import { kvCommand } from "./commands/kv.js";
import { objCommand } from "./commands/obj.js";
import { nsCommand } from "./commands/ns.js";
import { uiCommand } from "./commands/ui.js";

/** Builds the program (exported for tests and docs). */
function buildProgram(): Command {
  const program = addGlobalOptions(
    new Command("nex").description("nex-ts: run functions and services on NATS").version(VERSION).showHelpAfterError(),
  );
  program.addCommand(upCommand());
  program.addCommand(nodeCommand());
  program.addCommand(devrunCommand());
  program.addCommand(runCommand());
  program.addCommand(lsCommand());
  program.addCommand(stopCommand());
  program.addCommand(inspectCommand());
  program.addCommand(dlqCommand());
  program.addCommand(logsCommand());
  program.addCommand(eventsCommand());
  program.addCommand(reqCommand());
  program.addCommand(pubCommand());
  program.addCommand(kvCommand());
  program.addCommand(objCommand());
  program.addCommand(nsCommand());
  program.addCommand(uiCommand());
  return program;
}

/** Runs the CLI on `argv` (as `process.argv`: node, script, then the arguments). `bin/nex.mjs` calls it. */
export async function main(argv: readonly string[] = process.argv): Promise<void> {
  await buildProgram().parseAsync([...argv]);
}
