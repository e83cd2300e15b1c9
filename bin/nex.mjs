#!/usr/bin/env node
// The nex CLI executable. Runs the built code (dist/), or the TypeScript sources through tsx when NEX_FROM_SOURCE=1
// or when there is no build yet (a fresh checkout before `npm run build`).
import { existsSync } from "node:fs";

const dist = new URL("../dist/cli/main.js", import.meta.url);
let cli;
if (process.env.NEX_FROM_SOURCE !== "1" && existsSync(dist)) {
  cli = await import(dist.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  cli = await import(new URL("../src/cli/main.ts", import.meta.url).href);
}
await cli.main(process.argv);
