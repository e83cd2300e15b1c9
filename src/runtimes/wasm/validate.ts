/** Deploy-time checks that a compiled module is a WASI command nex can run, with clear reasons when it is not. */
import { WASI } from "@bjorn3/browser_wasi_shim";
import { NexError } from "../../contract/index.js";
import { NEX_MODULE } from "./abi.js";
import { nexImports } from "./imports.js";
import { MEMORY_IMPORT } from "./limits.js";
import { wasm, type WasmModule } from "./wasm-api.js";

const WASI_MODULE = "wasi_snapshot_preview1";

/** Import names each module offers, taken from the real import objects so the check can never drift from them. */
const OFFERED: Record<string, Set<string>> = {
  [WASI_MODULE]: new Set(Object.keys(new WASI([], [], [], { debug: false }).wasiImport)),
  [NEX_MODULE]: new Set(Object.keys(nexImports(() => new wasm.Memory({ initial: 0 }), () => ({ status: 0, data: new Uint8Array(0) })))),
};

function bad(message: string): NexError {
  return new NexError("NEX_E_BAD_ARTIFACT", message);
}

/** Throws NEX_E_BAD_ARTIFACT unless the module is a WASI preview1 command whose imports nex can satisfy. */
export function checkImportsAndExports(mod: WasmModule): void {
  const imports = wasm.Module.imports(mod);
  const exports = wasm.Module.exports(mod);
  const start = exports.find((e) => e.name === "_start");
  if (!imports.some((i) => i.module === WASI_MODULE)) {
    throw bad(`the module is not a WASI program: it imports nothing from ${WASI_MODULE}; build it for wasm32-wasi`);
  }
  if (!start || start.kind !== "function") {
    throw bad("the module is not a WASI command: it exports no _start function (build a program with a main, not a library)");
  }
  if (!exports.some((e) => e.name === "memory" && e.kind === "memory")) throw bad("the module exports no memory");
  const isHostMemory = (i: { module: string; name: string; kind: string }): boolean =>
    i.kind === "memory" && i.module === MEMORY_IMPORT.module && i.name === MEMORY_IMPORT.name;
  const unknown = imports.filter((i) => !isHostMemory(i) && (i.kind !== "function" || !OFFERED[i.module]?.has(i.name)));
  if (unknown.length > 0) {
    const list = unknown.slice(0, 5).map((i) => `${i.module}.${i.name}`).join(", ");
    throw bad(`the module imports what nex does not provide: ${list}${unknown.length > 5 ? ", ..." : ""}`);
  }
}
