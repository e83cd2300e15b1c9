/**
 * Host services: what a function may do outside its sandbox (KV, object store, messaging, HTTP), behind one
 * interface and one table of operations shared by every engine.
 *
 * ```ts
 * import { MemoryHostServices, callHost } from "../hostservices/index.js";
 * const hs = new MemoryHostServices();
 * await callHost(hs, "kv.set", ["iot", "dev1", "23"]);
 * ```
 */
export { HTTP_METHODS, failureOf, hostError } from "./types.js";
export type { HostFailure, HostServices, HttpMethod, HttpRequest, HttpResponse, ObjectInfoLite } from "./types.js";
export { HOST_OPS, callHost, isHostOp } from "./ops.js";
export type { HostOp, HostResults } from "./ops.js";
export { MemoryHostServices } from "./memory.js";
export type { MemoryHostServicesOptions, MemoryResponder } from "./memory.js";
