/**
 * Host services shared by every function engine.
 *
 * ```ts
 * import { HostServices } from "../hostservices/index.js";
 * const hs = new HostServices(nc, { autoCreateBuckets: true });
 * const v = await hs.kvGet("dad_jokes", "jokes");
 * ```
 */
export * from "./services.js";
