/**
 * The slice of the WebAssembly JS API the engine uses, typed locally: the project compiles without the DOM lib,
 * which is where TypeScript keeps these types, and a global declaration here would clash with it one day.
 */

/** A compiled module (structured-cloneable to worker threads). */
export interface WasmModule {
  readonly __brand?: "WebAssembly.Module";
}

/** A linear memory. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

/** An instance: its exports. */
export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

/** One import or export descriptor. */
export interface WasmDescriptor {
  module: string;
  name: string;
  kind: "function" | "table" | "memory" | "global" | "tag";
}

/** The import object a module is instantiated with. */
export type WasmImports = Record<string, Record<string, unknown>>;

interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  Module: { imports(m: WasmModule): WasmDescriptor[]; exports(m: WasmModule): Omit<WasmDescriptor, "module">[] };
  Instance: new (m: WasmModule, imports: WasmImports) => WasmInstance;
  Memory: new (d: { initial: number; maximum?: number }) => WasmMemory & { grow(pages: number): number };
  RuntimeError: new (message?: string) => Error;
}

/** The runtime's WebAssembly object, typed. */
export const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
