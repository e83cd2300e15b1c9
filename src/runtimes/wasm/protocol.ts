/** Messages between the worker pool (runner main thread) and its wasm workers. */
import type { MessagePort } from "node:worker_threads";
import type { HostReply, HostRequest } from "./abi.js";
import type { WasmModule } from "./wasm-api.js";
import type { MemoryLimits } from "./limits.js";

/** What a worker receives once, at start (workerData). */
export interface WorkerInit {
  /** Int32Array view: [0] is 0 while a host call is pending, 1 once its reply is on `replies`. */
  signal: SharedArrayBuffer;
  /** Where host-call replies arrive; read synchronously with receiveMessageOnPort. */
  replies: MessagePort;
}

/** One invocation, as the pool sends it. `module` is only sent the first time a worker sees `key`. */
export interface RunRequest {
  t: "run";
  seq: number;
  key: string;
  module?: WasmModule;
  /** Bounds of the memory the worker creates for the module (it imports it). */
  memory: MemoryLimits;
  args: string[];
  env: string[];
  stdin: Uint8Array;
  /** Largest reply the module may write to stdout. */
  maxOutputBytes: number;
  /** stderr lines forwarded per invocation, and the longest line (in chars; the runner cuts it exactly in bytes). */
  log: StderrLimits;
}

/** What the worker forwards of a module's stderr; the rest is counted, never sent across. */
export interface StderrLimits {
  lines: number;
  lineChars: number;
}

/** Pool → worker. */
export type ToWorker = RunRequest | { t: "drop"; key: string };

/** How an invocation ended inside the worker. */
export interface RunResult {
  t: "done";
  seq: number;
  /** The exit code (0 when `_start` returned), or undefined after a trap. */
  exitCode?: number;
  /** The trap or host-side failure, when the module did not exit. */
  trap?: string;
  /** Set when stdout grew past `maxOutputBytes`. */
  outputTooLarge?: boolean;
  stdout: Uint8Array;
  /** The last part of stderr, for error messages. */
  stderrTail: string;
  /** stderr lines not forwarded (over `log.lines`). */
  stderrDropped: number;
  /** The module's linear memory size when it ended. */
  memoryBytes: number;
}

/** Worker → pool. */
export type FromWorker =
  | { t: "ready" }
  | RunResult
  | { t: "stderr"; seq: number; line: string }
  | { t: "host"; seq: number; req: HostRequest };

/** Re-exported for the pool's host-call handler. */
export type { HostReply, HostRequest };
