/**
 * isolated-vm for the Node this process runs on. Each isolated-vm major supports a few Node majors only (5: Node 20,
 * built from source; 6: Node 22 and 24, prebuilt; 7: Node 24 and later, prebuilt), so package.json lists all three
 * as optional dependencies under aliases, and npm installs those whose `engines` range matches the installing Node
 * (5 comes through `vendor/ivm-node20`, the only way to put an engines range on it). Here the newest line that loads
 * wins. A plain `isolated-vm` is the last resort: npm does not install the dependencies of a `file:` package inside
 * another package, so a project that depends on nex-ts and runs it on Node 20 adds `isolated-vm@5` itself.
 * Type-only imports of "isolated-vm" resolve to whichever of ours is installed (tsconfig `paths`).
 */
import { createRequire } from "node:module";
import type IsolatedVM from "isolated-vm";

const load = createRequire(import.meta.url);

/** Newest first. */
const LINES: readonly { name: string; load: () => unknown }[] = [
  { name: "isolated-vm-7", load: () => load("isolated-vm-7") },
  { name: "isolated-vm-6", load: () => load("isolated-vm-6") },
  {
    name: "isolated-vm-5",
    // npm usually hoists it next to us; if not, it sits under ivm-node20.
    load: () => {
      try {
        return load("isolated-vm-5");
      } catch (err) {
        if (!isNotFound(err, "isolated-vm-5")) throw err;
        return createRequire(load.resolve("ivm-node20/package.json"))("isolated-vm-5");
      }
    },
  },
  { name: "isolated-vm", load: () => load("isolated-vm") },
];

function isNotFound(err: unknown, name: string): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === "MODULE_NOT_FOUND" && typeof e.message === "string" && e.message.includes(`'${name}'`);
}

function pick(): { ivm: typeof IsolatedVM; line: string; version: string } {
  const failures: string[] = [];
  for (const line of LINES) {
    try {
      const ivm = line.load() as typeof IsolatedVM;
      let version = "?";
      try {
        version = (load(`${line.name}/package.json`) as { version: string }).version;
      } catch {
        // A hoisting layout where only the module resolves; the version is for diagnostics only.
      }
      return { ivm, line: line.name, version };
    } catch (err) {
      const notInstalled = isNotFound(err, line.name) || isNotFound(err, "ivm-node20");
      failures.push(`  ${line.name}: ${notInstalled ? "not installed" : String((err as Error)?.message ?? err).split("\n")[0]}`);
    }
  }
  throw new Error(
    [
      `no isolated-vm loads on Node ${process.version} (ABI ${process.versions.modules}):`,
      ...failures,
      "npm installs the line that fits the installing Node (5 for Node 20, 6 for 22, 7 for 24 and later): run `npm ci`",
      "again with the Node that runs nex. On Node 20 isolated-vm 5 is compiled, which needs a C++ toolchain and that",
      "Node's headers (npm_config_nodedir); a project that depends on nex-ts adds `isolated-vm@5` itself there.",
    ].join("\n"),
  );
}

const picked = pick();

/** Which isolated-vm this process loaded, e.g. `{ line: "isolated-vm-6", version: "6.2.0" }`. */
export const ivmLoaded: { readonly line: string; readonly version: string } = { line: picked.line, version: picked.version };

const ivm: typeof IsolatedVM = picked.ivm;
export default ivm;
