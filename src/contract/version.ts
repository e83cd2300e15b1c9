/** The nex-ts version, reported by nodes and the CLI. Kept in step with package.json by a test. */
export const VERSION = "0.1.0";
