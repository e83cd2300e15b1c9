/** Bundles a JS/TS function (and the npm modules it imports) into one script for a V8 isolate. */
import { build } from "esbuild";
import { NexError } from "../contract/index.js";
import { MODULE_GLOBAL, MODULE_TAIL } from "../runtimes/v8/source.js";

/** Bundles `file` into a classic script whose completion value is the module's default export. */
export async function bundleFunction(file: string): Promise<Uint8Array> {
  try {
    const r = await build({
      entryPoints: [file],
      bundle: true,
      write: false,
      format: "iife",
      globalName: MODULE_GLOBAL,
      platform: "neutral",
      target: "es2022",
      mainFields: ["module", "main"],
      logLevel: "silent",
      plugins: [
        {
          name: "no-node-builtins",
          setup(b) {
            b.onResolve({ filter: /^node:/ }, (args) => ({
              errors: [{ text: `"${args.path}" is a Node.js module; functions run in a V8 isolate without Node APIs (use the host services instead)` }],
            }));
          },
        },
      ],
    });
    const code = r.outputFiles[0]?.text ?? "";
    return new TextEncoder().encode(code + MODULE_TAIL);
  } catch (err) {
    throw new NexError("NEX_E_BAD_ARTIFACT", `cannot bundle ${file}: ${(err as Error).message}`);
  }
}
