/**
 * nex-ts: a workload engine for NATS. This entry point runs nodes from a program; the client library is
 * `nex-ts/client`, the wire contract `nex-ts/contract`, and test helpers `nex-ts/testkit`.
 *
 * ```ts
 * import { NexNode, resolveConnection } from "nex-ts";
 * const node = await NexNode.start({ connection: resolveConnection({ server: "nats://127.0.0.1:4222" }) });
 * process.on("SIGINT", () => void node.stop());
 * ```
 */
export { NexNode } from "./node/node.js";
export { NODE_DEFAULTS } from "./node/options.js";
export type { NodeOptions, ResolvedNodeOptions } from "./node/options.js";
export { connectNats, resolveConnection } from "./nats/connect.js";
export type { ConnectionConfig, ConnectionFlags } from "./nats/connect.js";
export { NexClient } from "./client/index.js";
export { NexError, VERSION } from "./contract/index.js";
export type { ErrorCode } from "./contract/index.js";
