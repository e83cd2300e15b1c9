/**
 * Deploy-time checks on a module's bytes, and the memory cap.
 *
 * A worker's `resourceLimits` does not bound wasm linear memory, so the cap is written into the module itself: the
 * memory section's maximum becomes min(declared maximum, cap). The engine then refuses to grow past it, `memory.grow`
 * returns -1 inside the module, and its allocator fails (Rust aborts, C's malloc returns NULL). Memories we cannot
 * bound this way (imported, shared, 64-bit) are refused.
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
export function looksLikeWasm(bytes: Uint8Array): boolean {
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
    } else throw bad(`the module has an unknown import kind ${kind}`);
  }
}

function limits(r: Reader): { flags: number; min: number; max?: number } {
  const flags = r.u8();
  const min = r.u32();
  const max = flags & 1 ? r.u32() : undefined;
  return max === undefined ? { flags, min } : { flags, min, max };
}

/** Rewrites the memory section so that no memory may grow past `maxPages`. */
function cappedMemorySection(r: Reader, end: number, maxPages: number, capMiB: number): number[] {
  const count = r.u32();
  const body = leb(count);
  for (let i = 0; i < count; i++) {
    const l = limits(r);
    if (l.flags & 0x02) throw bad("the module uses shared memory, which nex does not run");
    if (l.flags & 0x04) throw bad("the module uses 64-bit memory, which nex does not run");
    if (l.min > maxPages) {
      const needMiB = Math.ceil((l.min * WASM_PAGE_BYTES) / 1_048_576);
      throw bad(`the module starts with ${needMiB} MiB of memory, more than its ${capMiB} MiB limit; deploy with a larger memory limit`);
    }
    const max = Math.min(l.max ?? maxPages, maxPages);
    body.push(0x01, ...leb(l.min), ...leb(max));
  }
  if (r.pos !== end) throw bad("the module's memory section is malformed");
  return body;
}

/**
 * Returns a copy of `bytes` whose memories cannot grow past `capMiB`.
 * Throws NEX_E_BAD_ARTIFACT for bytes that are not wasm or hold a memory that cannot be bounded.
 */
export function capMemory(bytes: Uint8Array, capMiB: number): Uint8Array {
  if (!looksLikeWasm(bytes)) throw bad("the artifact is not a WebAssembly module (no \\0asm header)");
  const maxPages = Math.floor((capMiB * 1_048_576) / WASM_PAGE_BYTES);
  const r = new Reader(bytes, 8);
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  while (r.pos < bytes.length) {
    const start = r.pos;
    const id = r.u8();
    const size = r.u32();
    const bodyStart = r.pos;
    const end = bodyStart + size;
    if (end > bytes.length) throw bad("the module is truncated");
    if (id === SECTION_IMPORT) checkImports(new Reader(bytes, bodyStart), end);
    if (id === SECTION_MEMORY) {
      const body = cappedMemorySection(new Reader(bytes, bodyStart), end, maxPages, capMiB);
      parts.push(Uint8Array.from([id, ...leb(body.length), ...body]));
    } else {
      parts.push(bytes.subarray(start, end));
    }
    r.pos = end;
  }
  return Buffer.concat(parts);
}
