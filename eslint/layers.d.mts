// Types for the local lint plugin (layers.mjs), so tests can load it.
import type { ESLint } from "eslint";
declare const plugin: ESLint.Plugin;
export default plugin;
