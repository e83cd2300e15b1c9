/**
 * The one place that maps each workload type to its implementation. A function type names its engine (which runs in
 * a runner process); a service type names its node-side Runtime. Modules load lazily, so a node never loads an
 * engine and a wasm runner never loads isolated-vm.
 */
import { isFunctionType, type WorkloadType } from "../contract/index.js";
import type { EngineContext, FunctionEngine } from "./engine.js";
import type { Runtime, RuntimeHost } from "./runtime.js";

/** How one workload type is implemented. */
type Implementation =
  | { engine: () => Promise<(ctx: EngineContext) => Promise<FunctionEngine>> }
  | { runtime: () => Promise<(host: RuntimeHost) => Runtime> };

const IMPLEMENTATIONS = {
  v8: { engine: async () => (await import("./v8/engine.js")).createV8Engine },
  wasm: { engine: async () => (await import("./wasm/engine.js")).createWasmEngine },
  native: { runtime: async () => (await import("./native/runtime.js")).createNativeRuntime },
} satisfies Record<WorkloadType, Implementation>;

/** Creates the runtimes a node offers, for the types it is asked to run. */
export async function createRuntimes(host: RuntimeHost, types: readonly WorkloadType[]): Promise<Map<WorkloadType, Runtime>> {
  const out = new Map<WorkloadType, Runtime>();
  for (const t of types) {
    const impl: Implementation = IMPLEMENTATIONS[t];
    if ("runtime" in impl) {
      out.set(t, (await impl.runtime())(host));
    } else {
      const { FunctionRuntime } = await import("./functions/runtime.js");
      out.set(t, new FunctionRuntime(t, host));
    }
  }
  return out;
}

/** Loads the engine of a function type, inside a runner process. */
export async function loadEngine(type: WorkloadType, ctx: EngineContext): Promise<FunctionEngine> {
  const impl: Implementation = IMPLEMENTATIONS[type];
  if (!("engine" in impl) || !isFunctionType(type)) throw new Error(`${type} is not a function type`);
  return (await impl.engine())(ctx);
}
