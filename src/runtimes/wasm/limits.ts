/**
 * Deploy-time checks on a module's bytes, and the memory cap.
 *
 * A worker's `resourceLimits` does not bound wasm linear memory, so the cap is enforced on the memory itself: the
 * module is rewritten to import its memory, and the host creates that memory with maximum = min(declared, cap).
 * V8 then refuses to grow past it, `memory.grow` returns -1 inside the module, and its allocator fails (Rust aborts,
 * C's malloc returns NULL). Memories we cannot bound this way (imported, shared, 64-bit, several) are refused.
 */
import { NexError } from "../../contract/index.js";

/** Bytes in one wasm page. */
export const WASM_PAGE_BYTES = 65_536;

const MAGIC = [0x00, 0x61, 0x73, 0x6d];
const SECTION_IMPORT = 2;
const SECTION_MEMORY = 5;
const IMPORT_KIND_MEMORY = 2;

function bad(message: string): NexError {
  return new NexError("NEX_E_BAD_ARTIFACT", message);
}

/** A cursor over module bytes that reads LEB128 numbers. */
class Reader {
  constructor(
    readonly bytes: Uint8Array,
    public pos = 0,
  ) {}

  u8(): number {
    const b = this.bytes[this.pos++];
    if (b === undefined) throw bad("the module is truncated");
    return b;
  }

  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.u8();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) throw bad("the module has a malformed LEB128 number");
    }
  }

  skip(n: number): void {
    this.pos += n;
    if (this.pos > this.bytes.length) throw bad("the module is truncated");
  }
}

/** Encodes an unsigned LEB128 number. */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** True when the bytes start with the wasm magic number. */
function looksLikeWasm(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && MAGIC.every((b, i) => bytes[i] === b);
}

/** Checks that the import section declares no memory (an imported memory would escape the cap). */
function checkImports(r: Reader, end: number): void {
  const count = r.u32();
  for (let i = 0; i < count && r.pos < end; i++) {
    r.skip(r.u32());
    r.skip(r.u32());
    const kind = r.u8();
    if (kind === IMPORT_KIND_MEMORY) throw bad("the module imports its memory; nex only runs modules that define their own memory");
    if (kind === 0) r.u32();
    else if (kind === 1) {
      r.u8();
      limits(r);
    } else if (kind === 3) r.skip(2);
    else if (kind === 4) {
      r.u8();
      r.u32();
    } else throw bad("the module has an import of an unknown kind");
  }
}

function limits(r: Reader): { flags: number; min: number; max?: number } {
  const flags = r.u8();
  const min = r.u32();
  const max = flags & 1 ? r.u32() : undefined;
  return max === undefined ? { flags, min } : { flags, min, max };
}

/** Reads the memory section: exactly one memory that can be bounded. */
function readMemory(r: Reader, end: number, maxPages: number, capMiB: number): MemoryLimits {
  const count = r.u32();
  if (count !== 1) throw bad(`the module defines ${count} memories; nex runs modules with exactly one`);
  const l = limits(r);
  if (l.flags & 0x02) throw bad("the module uses shared memory, which nex does not run");
  if (l.flags & 0x04) throw bad("the module uses 64-bit memory, which nex does not run");
  if (l.min > maxPages) {
    const needMiB = Math.ceil((l.min * WASM_PAGE_BYTES) / 1_048_576);
    throw bad(`the module starts with ${needMiB} MiB of memory, more than its ${capMiB} MiB limit; deploy with a larger memory limit`);
  }
  if (r.pos !== end) throw bad("the module's memory section is malformed");
  return { minPages: l.min, maxPages: Math.min(l.max ?? maxPages, maxPages) };
}

/** The bounds of a function's memory, in 64 KiB pages. */
export interface MemoryLimits {
  minPages: number;
  maxPages: number;
}

/** A module rewritten to import its memory from the host, and the bounds that memory must have. */
export interface CappedModule extends MemoryLimits {
  bytes: Uint8Array;
}

/** Name under which a capped module imports its memory (module `nex`, field `memory`). */
export const MEMORY_IMPORT = { module: "nex", name: "memory" } as const;

/** The import entry that replaces the module's own memory, with the cap as its maximum. */
function memoryImportEntry(m: MemoryLimits): number[] {
  const str = (t: string): number[] => [...leb(t.length), ...Buffer.from(t)];
  return [...str(MEMORY_IMPORT.module), ...str(MEMORY_IMPORT.name), IMPORT_KIND_MEMORY, 0x01, ...leb(m.minPages), ...leb(m.maxPages)];
}

/**
 * Rewrites a module so that its memory is imported from the host, with at most `capMiB` of room.
 *
 * Moving the memory to an import does two things: the host creates it with a maximum the module cannot exceed
 * (instantiation fails if a larger maximum is offered), and a worker can reuse one zeroed memory per function
 * instead of allocating a fresh one per call, which is what kept V8 running full GCs under load.
 * Memory index 0 stays index 0 (imported memories come first), so the code and the `memory` export are unchanged.
 * Throws NEX_E_BAD_ARTIFACT for bytes that are not wasm or hold a memory that cannot be bounded.
 */
export function capMemory(bytes: Uint8Array, capMiB: number): CappedModule {
  if (!looksLikeWasm(bytes)) throw bad("the artifact is not a WebAssembly module (no \\0asm header)");
  const capPages = Math.floor((capMiB * 1_048_576) / WASM_PAGE_BYTES);
  const sections: { id: number; start: number; bodyStart: number; end: number }[] = [];
  const r = new Reader(bytes, 8);
  let mem: MemoryLimits | undefined;
  while (r.pos < bytes.length) {
    const start = r.pos;
    const id = r.u8();
    const size = r.u32();
    const bodyStart = r.pos;
    const end = bodyStart + size;
    if (end > bytes.length) throw bad("the module is truncated");
    if (id === SECTION_IMPORT) checkImports(new Reader(bytes, bodyStart), end);
    if (id === SECTION_MEMORY) mem = readMemory(new Reader(bytes, bodyStart), end, capPages, capMiB);
    sections.push({ id, start, bodyStart, end });
    r.pos = end;
  }
  const imports = sections.find((x) => x.id === SECTION_IMPORT);
  if (!mem) throw bad("the module defines no memory");
  if (!imports) throw bad("the module imports nothing, so it is not a WASI program");
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  for (const sec of sections) {
    if (sec.id === SECTION_MEMORY) continue;
    if (sec.id !== SECTION_IMPORT) {
      parts.push(bytes.subarray(sec.start, sec.end));
      continue;
    }
    const ir = new Reader(bytes, sec.bodyStart);
    const count = ir.u32();
    const body = [...leb(count + 1), ...bytes.subarray(ir.pos, sec.end), ...memoryImportEntry(mem)];
    parts.push(Uint8Array.from([SECTION_IMPORT, ...leb(body.length), ...body]));
  }
  return { bytes: Buffer.concat(parts), ...mem };
}
