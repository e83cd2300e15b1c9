/**
 * Artifact formats that both ends must agree on. A v8 artifact is a classic script whose completion value is the
 * function. A bundle (what `nex devrun` makes of a module that imports others) starts with `BUNDLE_MARKER`, sets
 * the global `MODULE_GLOBAL` to the module namespace, and ends with `MODULE_TAIL`, which selects the function.
 */

/** The global name bundles use; their completion value is `__nexModule.default` (or `.handler`). */
export const MODULE_GLOBAL = "__nexModule";

/** The expression that ends a bundled module, selecting the function. */
export const MODULE_TAIL = `\n;(${MODULE_GLOBAL}.default ?? ${MODULE_GLOBAL}.handler);\n`;

/** First line of a bundle: the engine runs it as it is (its own text may contain lines that look like imports). */
export const BUNDLE_MARKER = "/* nex:bundle */\n";

/** A line that imports another module: such a source must be bundled before it can run in an isolate. */
export const IMPORT_LINE = /^\s*import\s+[\w*{"']/m;
