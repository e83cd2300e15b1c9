/**
 * A wasm worker thread: runs one invocation at a time, each in a fresh instance of a module compiled once by the
 * runner. Host calls block this thread on Atomics.wait while the runner's main thread does the NATS work; a
 * runaway module is stopped by the pool terminating the whole worker.
 */
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { ConsoleStdout, File, OpenFile, WASI, WASIProcExit } from "@bjorn3/browser_wasi_shim";
import { NEX_MODULE, type HostReply, type HostRequest } from "./abi.js";
import { nexImports } from "./imports.js";
import { MEMORY_IMPORT, WASM_PAGE_BYTES } from "./limits.js";
import { wasm, type WasmMemory, type WasmModule } from "./wasm-api.js";
import type { FromWorker, RunRequest, RunResult, StderrLimits, ToWorker, WorkerInit } from "./protocol.js";

/** Longest stderr tail kept for error messages. */
const STDERR_TAIL_CHARS = 1_024;

const init = workerData as WorkerInit;
const signal = new Int32Array(init.signal);
const port = parentPort;
if (!port) throw new Error("the wasm worker must run in a worker thread");
const modules = new Map<string, WasmModule>();
/**
 * One spare memory per function, zeroed before reuse: a fresh wasm memory per call made V8 run a full GC every few
 * dozen calls (external memory pressure), which was the whole p99. A memory that grew large is dropped instead,
 * so zeroing stays cheap and a one-off big call does not pin its memory. A memory above half the cap is never
 * reused either, so a fresh call never starts near the cap (where a failure would be blamed on memory).
 */
/** Zeroed memories, one per function, ready for its next call. */
const spareMemories = new Map<string, WasmMemory>();
/** The memory the last call used, zeroed once its reply has been posted. */
let used: { key: string; mem: WasmMemory } | undefined;
const REUSE_MAX_BYTES = 8 * 1_048_576;
const enc = new TextEncoder();

function send(m: FromWorker): void {
  port?.postMessage(m);
}

/** Thrown by stdout when the reply grows too large; unwinds the module. */
class OutputTooLarge extends Error {}

/**
 * Collects stderr: forwards whole lines to the log and keeps a tail for error messages. Only `limits.lines` lines
 * per invocation cross to the main thread, each cut to `limits.lineChars` (plus one char, so the runner sees it is
 * over and marks the cut); the rest is counted, so a flood never queues up between the threads.
 */
function stderrSink(seq: number, limits: StderrLimits): { fd: ConsoleStdout; tail: () => string; dropped: () => number } {
  const dec = new TextDecoder("utf-8", { fatal: false });
  let partial = "";
  let tail = "";
  let lines = 0;
  let dropped = 0;
  // The rest of a line that was already sent cut, up to its newline, is skipped.
  let cutting = false;
  const emit = (line: string): void => {
    if (lines >= limits.lines) dropped++;
    else {
      lines++;
      send({ t: "stderr", seq, line });
    }
  };
  const take = (piece: string, ends: boolean): void => {
    if (cutting) {
      cutting = !ends;
      return;
    }
    partial += piece;
    if (partial.length > limits.lineChars) {
      emit(partial.slice(0, limits.lineChars + 1));
      partial = "";
      cutting = !ends;
    } else if (ends) {
      emit(partial);
      partial = "";
    }
  };
  const fd = new ConsoleStdout((chunk) => {
    const text = dec.decode(chunk, { stream: true });
    tail = (tail + text.slice(-STDERR_TAIL_CHARS)).slice(-STDERR_TAIL_CHARS);
    const parts = text.split("\n");
    parts.forEach((piece, i) => take(piece, i < parts.length - 1));
  });
  return {
    fd,
    tail: () => {
      if (partial) emit(partial);
      partial = "";
      return tail.trimEnd();
    },
    dropped: () => dropped,
  };
}

/** Sends a host call to the main thread and sleeps until the reply is posted. */
function hostCall(seq: number, req: HostRequest): HostReply {
  Atomics.store(signal, 0, 0);
  send({ t: "host", seq, req });
  Atomics.wait(signal, 0, 0);
  const got = receiveMessageOnPort(init.replies);
  if (!got) throw new Error("host call reply is missing");
  return got.message as HostReply;
}

/** Fixes the shim's argument sizes, which count UTF-16 units instead of UTF-8 bytes. */
function utf8ArgSizes(wasi: WASI, args: string[]): void {
  wasi.wasiImport["args_sizes_get"] = (argc: number, argvBufSize: number): number => {
    const view = new DataView((wasi.inst.exports["memory"] as WasmMemory).buffer);
    view.setUint32(argc, args.length, true);
    view.setUint32(argvBufSize, args.reduce((n, a) => n + enc.encode(a).length + 1, 0), true);
    return 0;
  };
}

/** Joins chunks into a fresh, unpooled buffer, so it can be transferred instead of copied. */
function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** A zeroed memory for one call: the spare one if there is one, else a new one with the function's bounds. */
function takeMemory(req: RunRequest): WasmMemory {
  const spare = spareMemories.get(req.key);
  spareMemories.delete(req.key);
  if (spare) return spare;
  return new wasm.Memory({ initial: req.memory.minPages, maximum: req.memory.maxPages });
}

function run(req: RunRequest): RunResult {
  if (req.module) modules.set(req.key, req.module);
  const mod = modules.get(req.key);
  const stdout: Uint8Array[] = [];
  let outBytes = 0;
  const out = new ConsoleStdout((chunk) => {
    outBytes += chunk.length;
    if (outBytes > req.maxOutputBytes) throw new OutputTooLarge();
    stdout.push(chunk);
  });
  const err = stderrSink(req.seq, req.log);
  const wasi = new WASI(req.args, req.env, [new OpenFile(new File(req.stdin, { readonly: true })), out, err.fd], { debug: false });
  utf8ArgSizes(wasi, req.args);
  const mem = takeMemory(req);
  const memory = (): WasmMemory => mem;
  const result: RunResult = { t: "done", seq: req.seq, stdout: new Uint8Array(0), stderrTail: "", stderrDropped: 0, memoryBytes: 0 };
  try {
    if (!mod) throw new Error(`module ${req.key} is not loaded in this worker`);
    const instance = new wasm.Instance(mod, {
      wasi_snapshot_preview1: wasi.wasiImport,
      [NEX_MODULE]: { ...nexImports(memory, (hr) => hostCall(req.seq, hr)), [MEMORY_IMPORT.name]: mem },
    });
    result.exitCode = wasi.start(instance as Parameters<WASI["start"]>[0]);
  } catch (e) {
    if (e instanceof WASIProcExit) result.exitCode = e.code;
    else if (e instanceof OutputTooLarge) result.outputTooLarge = true;
    else result.trap = e instanceof Error ? `${e.name === "RuntimeError" ? "trap" : e.name}: ${e.message}` : String(e);
  }
  result.memoryBytes = mem.buffer.byteLength;
  const reusable = result.memoryBytes <= Math.min(REUSE_MAX_BYTES, (req.memory.maxPages * WASM_PAGE_BYTES) / 2);
  if (reusable && modules.has(req.key)) used = { key: req.key, mem };
  result.stderrTail = err.tail();
  result.stderrDropped = err.dropped();
  result.stdout = concat(stdout);
  return result;
}

port.on("message", (m: ToWorker) => {
  if (m.t === "drop") {
    modules.delete(m.key);
    spareMemories.delete(m.key);
    return;
  }
  const r = run(m);
  port.postMessage(r, [r.stdout.buffer as ArrayBuffer]);
  // Zero the memory for the next call after the reply is on its way, so the caller does not wait for it.
  if (used) {
    new Uint8Array(used.mem.buffer).fill(0);
    if (modules.has(used.key)) spareMemories.set(used.key, used.mem);
    used = undefined;
  }
});
send({ t: "ready" });
