/** The one place that picks a Runtime implementation per workload type. */
import type { WorkloadType } from "../contract/index.js";
import { FunctionRuntime } from "../runner/function-runtime.js";
import type { Runtime, RuntimeHost } from "./runtime.js";

/** Creates the runtimes a node offers, for the types it is asked to run. */
export async function createRuntimes(host: RuntimeHost, types: readonly WorkloadType[]): Promise<Map<WorkloadType, Runtime>> {
  const out = new Map<WorkloadType, Runtime>();
  for (const t of types) {
    switch (t) {
      case "v8":
      case "wasm":
        out.set(t, new FunctionRuntime(t, host));
        break;
      case "native": {
        const { NativeRuntime } = await import("./native/runtime.js");
        out.set(t, new NativeRuntime(host));
        break;
      }
    }
  }
  return out;
}
