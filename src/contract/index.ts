/**
 * The wire contract: subjects, request and reply types, error codes and events. Every other layer imports this one.
 *
 * ```ts
 * import { subjects, NexError, decode } from "../contract/index.js";
 * ```
 */
export * from "./subjects.js";
export * from "./errors.js";
export * from "./types.js";
export * from "./decode.js";
export * from "./events.js";
export { VERSION } from "./version.js";
