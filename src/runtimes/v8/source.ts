/**
 * Turns a function artifact into a classic script whose completion value is the function.
 * Plain scripts pass through; an ES module (`export default …`) is rewritten by esbuild.
 * Modules that import other modules must be bundled first (`nex devrun` does it).
 */
import { BUNDLE_MARKER, IMPORT_LINE, MODULE_GLOBAL, MODULE_TAIL, NexError } from "../../contract/index.js";

const ESM = /^\s*export\s+(default|const|function|async|\{|let|var)/m;

/** Converts a source into the classic-script form the engine runs. */
export async function toScriptSource(src: string, name: string): Promise<string> {
  if (src.startsWith(BUNDLE_MARKER)) return src;
  if (IMPORT_LINE.test(src)) {
    throw new NexError(
      "NEX_E_BAD_ARTIFACT",
      `${name} imports other modules; bundle it first (nex devrun bundles .js/.ts files that import npm packages)`,
    );
  }
  if (!ESM.test(src)) return src;
  const { transform } = await import("esbuild");
  try {
    const r = await transform(src, { format: "iife", globalName: MODULE_GLOBAL, loader: "js", target: "es2022" });
    return r.code + MODULE_TAIL;
  } catch (err) {
    throw new NexError("NEX_E_BAD_ARTIFACT", `the module does not parse: ${(err as Error).message}`);
  }
}
