/**
 * Turns a function artifact into a classic script whose completion value is the function.
 * Plain scripts pass through; an ES module (`export default …`) is rewritten by esbuild.
 * Modules that import other modules must be bundled first (`nex devrun` does it).
 */
import { BUNDLE_MARKER, IMPORT_LINE, MODULE_GLOBAL, MODULE_TAIL, NexError } from "../../contract/index.js";

const ESM = /^\s*export\s+(default|const|function|async|\{|let|var)/m;

/**
 * Module code as a script whose completion value is the function, run inside a function of its own: the variable
 * holding the module's namespace stays local, so no `__nexModule` global is left for user code to find.
 */
function enclosed(code: string): string {
  return `(() => {\n${code}\nreturn (${MODULE_GLOBAL}.default ?? ${MODULE_GLOBAL}.handler);\n})()`;
}

/** Converts a source into the classic-script form the engine runs. */
export async function toScriptSource(src: string, name: string): Promise<string> {
  if (src.startsWith(BUNDLE_MARKER)) {
    return src.endsWith(MODULE_TAIL) ? enclosed(src.slice(BUNDLE_MARKER.length, src.length - MODULE_TAIL.length)) : src;
  }
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
    return enclosed(r.code);
  } catch (err) {
    // esbuild's message quotes the offending line: only its position is repeated (an artifact may be any file).
    const at = (err as { errors?: { location?: { line: number; column: number } | null }[] }).errors?.[0]?.location;
    throw new NexError("NEX_E_BAD_ARTIFACT", `the module does not parse${at ? ` (line ${at.line}, column ${at.column + 1})` : ""}`);
  }
}

const ERROR_NAMES = new Set(["Error", "SyntaxError", "ReferenceError", "TypeError", "RangeError", "EvalError", "URIError", "AggregateError"]);

/**
 * What went wrong while compiling or loading a script, without the error's message: V8 quotes source text in it
 * ("Unexpected identifier 'SUAB…'", "SUAB… is not defined"), and an artifact may be a file that was never meant to
 * be shown, such as a key. The error's kind and position are enough to find the line.
 */
export function describeLoadError(err: unknown, filename: string): string {
  const e = err as { name?: unknown; message?: unknown; stack?: unknown };
  const name = typeof e?.name === "string" && ERROR_NAMES.has(e.name) ? e.name : "an exception";
  const file = filename.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const where = new RegExp(`${file}:(\\d+):(\\d+)`).exec(`${String(e?.message ?? "")}\n${String(e?.stack ?? "")}`);
  return where ? `${name} at line ${where[1]}, column ${where[2]}` : name;
}
