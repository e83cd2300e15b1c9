/**
 * Bundles a JS/TS function, and the npm modules it imports, into one classic script for a V8 isolate.
 *
 * ```ts
 * const code = await bundleFunction("./fn.ts");   // deploy these bytes as a v8 function
 * ```
 */
import { builtinModules } from "node:module";
import { build, type Plugin } from "esbuild";
import { BUNDLE_MARKER, MODULE_GLOBAL, MODULE_TAIL, NexError } from "../contract/index.js";

const BUILTINS = new Set(builtinModules.filter((m) => !m.startsWith("_")));

function refusal(path: string): string {
  return (
    `"${path}" is a Node.js module: functions run in a V8 isolate without Node APIs (no fs, net, process or Buffer). ` +
    `Use the host services instead (kv, objectStore, messaging, http, fetch), or a library that does not need Node.`
  );
}

/** Refuses `node:*` imports, and bare builtin names (`fs`) unless an npm package of that name is installed (`buffer`, `events`). */
const noNodeBuiltins: Plugin = {
  name: "nex-no-node-builtins",
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => ({ errors: [{ text: refusal(args.path) }] }));
    b.onResolve({ filter: /^[a-z_]/ }, async (args) => {
      const root = args.path.split("/")[0] ?? "";
      if (!BUILTINS.has(root) || (args.pluginData as { probe?: boolean } | undefined)?.probe) return undefined;
      const r = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer, pluginData: { probe: true } });
      return r.errors.length === 0 ? r : { errors: [{ text: refusal(args.path) }] };
    });
  },
};

/** Bundles `file` into a classic script whose completion value is the module's default export. */
export async function bundleFunction(file: string): Promise<Uint8Array> {
  let code: string;
  try {
    const r = await build({
      entryPoints: [file],
      bundle: true,
      write: false,
      format: "iife",
      globalName: MODULE_GLOBAL,
      platform: "neutral",
      target: "es2022",
      // platform "neutral" reads no package.json fields by default; isolates are closest to browsers and workers.
      mainFields: ["browser", "module", "main"],
      conditions: ["worker", "browser"],
      legalComments: "none",
      logLevel: "silent",
      plugins: [noNodeBuiltins],
    });
    code = r.outputFiles[0]?.text ?? "";
  } catch (err) {
    const e = err as Error & { errors?: { text: string; location?: { file: string; line: number } | null }[] };
    const why = e.errors?.length
      ? e.errors.map((x) => (x.location ? `${x.location.file}:${x.location.line}: ` : "") + x.text).join("; ")
      : e.message;
    throw new NexError("NEX_E_BAD_ARTIFACT", `cannot bundle ${file}: ${why}`);
  }
  return new TextEncoder().encode(BUNDLE_MARKER + code + MODULE_TAIL);
}
