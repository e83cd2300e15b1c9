/** Turns a local file into the bytes `nex devrun` uploads: JS/TS functions that import modules are bundled first. */
import { readFileSync } from "node:fs";
import { IMPORT_LINE, NexError, type WorkloadType } from "../contract/index.js";

/** Reads (and, for v8 functions that need it, bundles) an artifact. */
export async function prepareArtifact(file: string, type: WorkloadType): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (err) {
    throw new NexError("NEX_E_ARTIFACT_FETCH", `cannot read ${file}: ${(err as Error).message}`);
  }
  if (type !== "v8") return bytes;
  const isTs = /\.(m|c)?ts$/i.test(file);
  if (!isTs && !IMPORT_LINE.test(new TextDecoder().decode(bytes))) return bytes;
  const { bundleFunction } = await import("./bundle.js");
  return bundleFunction(file);
}
