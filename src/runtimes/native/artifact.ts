/** Decides how an artifact can run: a static ELF, a dynamic ELF, or a shebang script. */
import { NexError } from "../../contract/index.js";

/** What kind of executable an artifact is. */
export type ExecutableKind = "static-elf" | "dynamic-elf" | "script";

const PT_INTERP = 3;
/** ELF e_machine for the architectures Node reports. */
const MACHINES: Record<string, number> = { x64: 62, arm64: 183, arm: 40, ia32: 3, riscv64: 243, ppc64: 21, s390x: 22 };

function bad(why: string): NexError {
  return new NexError("NEX_E_BAD_ARTIFACT", why);
}

/** Classifies an executable, or throws NEX_E_BAD_ARTIFACT when this host cannot run it. */
export function inspectExecutable(bytes: Uint8Array, arch: string = process.arch): ExecutableKind {
  if (bytes.length >= 2 && bytes[0] === 0x23 && bytes[1] === 0x21) return "script";
  if (bytes.length < 64 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw bad("a native artifact must be an ELF executable or a script starting with #!");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const is64 = bytes[4] === 2;
  const le = bytes[5] === 1;
  const machine = view.getUint16(18, le);
  const want = MACHINES[arch];
  if (want !== undefined && machine !== want) throw bad(`the ELF file is built for machine ${machine}, but this node is ${arch}`);
  const phoff = Number(is64 ? view.getBigUint64(32, le) : view.getUint32(28, le));
  const phentsize = view.getUint16(is64 ? 54 : 42, le);
  const phnum = view.getUint16(is64 ? 56 : 44, le);
  for (let i = 0; i < phnum; i++) {
    const off = phoff + i * phentsize;
    if (off + 4 > bytes.length) throw bad("the ELF program headers are truncated");
    if (view.getUint32(off, le) === PT_INTERP) return "dynamic-elf";
  }
  return "static-elf";
}
