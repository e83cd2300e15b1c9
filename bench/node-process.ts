/**
 * A nex node in a process of its own, for the benchmark: its RSS (with its runners) is then the node's alone.
 * Forked by `lib/env.ts` with the settings as JSON in argv; says `{ ready: { id } }` over IPC, stops on SIGTERM
 * or when the parent goes away.
 */
import { NexNode } from "../src/node/node.js";
import type { NodeProcessArgs } from "./lib/env.js";

const args = JSON.parse(process.argv[2] ?? "{}") as NodeProcessArgs;
let node: NexNode | undefined;
let stopping = false;

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const timer = setTimeout(() => process.exit(1), 15_000);
  await node?.stop().catch(() => undefined);
  clearTimeout(timer);
  process.exit(0);
}

process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
process.on("disconnect", () => void stop());

try {
  node = await NexNode.start(
    {
      connection: args.connection,
      dataDir: args.dataDir,
      name: "bench",
      types: args.types,
      warmRunners: args.warmRunners ?? true,
      runnersPerNamespace: args.runnersPerNamespace,
      heartbeatIntervalMs: 60_000,
      // The benchmark's own loopback server has no accounts: every client there is the benchmark.
      insecure: true,
      allowFileDirs: args.allowFileDirs,
      idleEvictMs: args.idleEvictMs,
      maxWorkloads: args.maxWorkloads,
    },
    (line) => process.stderr.write(`${line}\n`),
  );
  process.send?.({ ready: { id: node.id } });
} catch (err) {
  process.send?.({ error: (err as Error).message });
  process.exit(1);
}
