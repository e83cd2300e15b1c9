/**
 * The client library: find nodes, deploy with placement, list, stop, invoke, and read logs and events.
 * The `nex` CLI is built on it.
 *
 * ```ts
 * import { connect } from "@nats-io/transport-node";
 * import { NexClient } from "nex-ts/client";
 * const nex = new NexClient(await connect({ servers: "nats://127.0.0.1:4222" }), { namespace: "default" });
 * for (const n of await nex.ping()) console.log(n.name, n.workloads);
 * ```
 */
export { NexClient, errorFromReply } from "./client.js";
export type { DeployResult, NexClientOptions, PlacementOptions, WorkloadStatus } from "./client.js";
export { readEvents, readFeed, readLogs } from "./feeds.js";
export type { EventFilter, FeedItem, FeedOptions, LogFilter, LogLine } from "./feeds.js";
