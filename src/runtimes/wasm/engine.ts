/** The wasm engine (WASI preview1 command modules). */
import { NexError } from "../../contract/index.js";
import type { EngineContext, FunctionEngine } from "../../runner/engine.js";

/** Creates the wasm engine for a runner. */
export async function createWasmEngine(_ctx: EngineContext): Promise<FunctionEngine> {
  return {
    load: () => Promise.reject(new NexError("NEX_E_UNSUPPORTED_TYPE", "wasm functions are not available yet")),
    close: async () => undefined,
  };
}
