import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import nex from "../eslint/layers.mjs";
import { REPO_ROOT } from "../src/testkit/index.js";

// The layer rules alone (no type information needed), applied to source text at paths inside src/.
const eslint = new ESLint({
  cwd: REPO_ROOT,
  overrideConfigFile: true,
  overrideConfig: [{ files: ["**/*.ts"], languageOptions: { parser: tseslint.parser }, plugins: { nex }, rules: { "nex/layers": "error" } }],
});

async function problems(path: string, text: string): Promise<string[]> {
  const [r] = await eslint.lintText(text, { filePath: join(REPO_ROOT, path) });
  return (r?.messages ?? []).map((m) => m.message);
}

test("lint - an import up the layers (a folder cycle in the making) fails lint", async () => {
  const up = await problems("src/contract/zz.ts", 'import { NexNode } from "../node/node.js";\nexport const x = NexNode;\n');
  assert.deepEqual(up, ["contract may not import node: imports go down the layers"]);
  const sideways = await problems("src/runner/zz.ts", 'import { NexNode } from "../node/node.js";\nexport const x = NexNode;\n');
  assert.deepEqual(sideways, ["runner may not import node: units of the same layer stay apart"]);
  assert.deepEqual(await problems("src/node/zz.ts", 'import { subjects } from "../contract/index.js";\nexport const x = subjects;\n'), []);
});

test("lint - an engine that imports a NATS client fails lint", async () => {
  for (const spec of ["@nats-io/transport-node", "../../nats/connect.js", "../../hostservices/nats.js"]) {
    const found = await problems("src/runtimes/wasm/zz.ts", `import * as m from "${spec}";\nexport const x = m;\n`);
    assert.equal(found.length, 1, spec);
    assert.match(found[0]!, /engines get host services, never a NATS connection/);
  }
  assert.deepEqual(await problems("src/runtimes/wasm/zz.ts", 'import { callHost } from "../../hostservices/index.js";\nexport const x = callHost;\n'), []);
});
