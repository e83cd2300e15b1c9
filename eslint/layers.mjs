// Lint rules that keep the house walkable: imports go down the layers, and no module imports itself in a circle.
//
// `nex/layers`: every source folder is a unit with a rank; a file may import from its own unit or from a unit of
// lower rank, never from a higher or equal one, so a folder cycle cannot be written. Engines (the v8 and wasm
// folders) may not import a NATS client at all: they get host services, never a connection.
// `nex/no-cycle`: no module cycle inside src/ (the layers rule only sees folders).
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Units, longest prefix first; lower rank = lower layer. The table in docs/design.md mirrors this one. */
export const UNITS = [
  { prefix: "src/runtimes/registry.ts", unit: "runtimes/registry", rank: 5 },
  { prefix: "src/runtimes/functions/", unit: "runtimes/functions", rank: 4 },
  { prefix: "src/runtimes/native/", unit: "runtimes/native", rank: 4 },
  { prefix: "src/runtimes/v8/", unit: "runtimes/v8", rank: 4, engine: true },
  { prefix: "src/runtimes/wasm/", unit: "runtimes/wasm", rank: 4, engine: true },
  { prefix: "src/runtimes/", unit: "runtimes", rank: 3 },
  { prefix: "src/contract/", unit: "contract", rank: 0 },
  { prefix: "src/nats/", unit: "nats", rank: 1 },
  { prefix: "src/hostservices/", unit: "hostservices", rank: 2 },
  { prefix: "src/auth/", unit: "auth", rank: 2 },
  { prefix: "src/client/", unit: "client", rank: 3 },
  { prefix: "src/observe/", unit: "observe", rank: 3 },
  { prefix: "src/runner/", unit: "runner", rank: 6 },
  { prefix: "src/node/", unit: "node", rank: 6 },
  { prefix: "src/ui/", unit: "ui", rank: 7 },
  { prefix: "src/cli/", unit: "cli", rank: 8 },
  { prefix: "src/testkit/", unit: "testkit", rank: 9 },
  { prefix: "src/", unit: "src", rank: 10 },
];

/** What an engine may not import: NATS itself, our NATS layer, and the NATS host services. */
const ENGINE_FORBIDDEN = [/^@nats-io\//, /^src\/nats\//, /^src\/hostservices\/nats\.ts$/];

function unitOf(rel) {
  return UNITS.find((u) => rel === u.prefix || rel.startsWith(u.prefix));
}

function rel(file) {
  return relative(ROOT, file).split(sep).join("/");
}

/** The repository-relative path a relative import names (`.js` maps to the `.ts` source). */
function target(fromFile, spec) {
  if (!spec.startsWith(".")) return undefined;
  const abs = resolve(dirname(fromFile), spec);
  const ts = abs.replace(/\.js$/, ".ts");
  return rel(existsSync(ts) ? ts : abs);
}

function sources(node) {
  if (node.type === "ImportExpression") return node.source.type === "Literal" ? [node.source.value] : [];
  return node.source && typeof node.source.value === "string" ? [node.source.value] : [];
}

const layers = {
  meta: { type: "problem", messages: { up: "{{from}} may not import {{to}}: {{why}}", engine: "an engine ({{from}}) may not import {{what}}: engines get host services, never a NATS connection" } },
  create(context) {
    const file = context.filename;
    const from = rel(file);
    if (!from.startsWith("src/")) return {};
    const fu = unitOf(from);
    const check = (node) => {
      for (const spec of sources(node)) {
        const to = target(file, spec);
        if (fu.engine && ENGINE_FORBIDDEN.some((re) => re.test(to ?? spec))) {
          context.report({ node, messageId: "engine", data: { from: fu.unit, what: spec } });
          continue;
        }
        if (!to) continue;
        if (!to.startsWith("src/")) {
          context.report({ node, messageId: "up", data: { from: fu.unit, to, why: "source code never imports tests, benchmarks or scripts" } });
          continue;
        }
        const tu = unitOf(to);
        if (tu.unit === fu.unit || tu.rank < fu.rank) continue;
        const why = tu.rank === fu.rank ? "units of the same layer stay apart" : "imports go down the layers";
        context.report({ node, messageId: "up", data: { from: fu.unit, to: tu.unit, why } });
      }
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check, ImportExpression: check };
  },
};

// A module graph of src/, scanned once per lint run.
let graph;
const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

function edges(relFile) {
  graph ??= new Map();
  let out = graph.get(relFile);
  if (out) return out;
  out = [];
  graph.set(relFile, out);
  let text;
  try {
    text = readFileSync(join(ROOT, relFile), "utf8");
  } catch {
    return out;
  }
  for (const m of text.matchAll(IMPORT_RE)) {
    // Type-only imports are erased at run time and cannot form a load-time cycle.
    if (/^\s*(import|export)\s+type\s/.test(m[0].trimStart())) continue;
    const to = target(join(ROOT, relFile), m[1] ?? m[2]);
    if (to && to.startsWith("src/") && to.endsWith(".ts")) out.push(to);
  }
  return out;
}

function cycleFrom(start) {
  const stack = [[start, [start]]];
  const seen = new Set();
  while (stack.length) {
    const [at, path] = stack.pop();
    for (const next of edges(at)) {
      if (next === start) return [...path, start];
      if (seen.has(next)) continue;
      seen.add(next);
      stack.push([next, [...path, next]]);
    }
  }
  return undefined;
}

const noCycle = {
  meta: { type: "problem", messages: { cycle: "import cycle: {{path}}" } },
  create(context) {
    const from = rel(context.filename);
    if (!from.startsWith("src/")) return {};
    return {
      Program(node) {
        const c = cycleFrom(from);
        if (c) context.report({ node, messageId: "cycle", data: { path: c.join(" → ") } });
      },
    };
  },
};

export default { rules: { layers, "no-cycle": noCycle } };
