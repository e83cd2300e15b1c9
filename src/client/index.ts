/**
 * The client library.
 *
 * ```ts
 * import { NexClient } from "nex-ts/client";
 * const nex = new NexClient(nc, { namespace: "default" });
 * for (const n of await nex.ping()) console.log(n.name, n.workloads);
 * ```
 */
export * from "./client.js";
export * from "./feeds.js";
