/** The one place that maps a runner kind to its engine. A new function runtime is a new folder plus one line here. */
import type { EngineContext, FunctionEngine } from "./engine.js";
import type { RunnerKind } from "./protocol.js";

/** Loads the engine for `kind` (lazily, so a wasm runner never loads isolated-vm). */
export async function loadEngine(kind: RunnerKind, ctx: EngineContext): Promise<FunctionEngine> {
  switch (kind) {
    case "v8":
      return (await import("../runtimes/v8/engine.js")).createV8Engine(ctx);
    case "wasm":
      return (await import("../runtimes/wasm/engine.js")).createWasmEngine(ctx);
  }
}
