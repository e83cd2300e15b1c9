// Lint: typescript-eslint's type-aware rules, chiefly no-floating-promises (a dropped promise in a daemon is a lost error).
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import nex from "./eslint/layers.mjs";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "scratch/**", "examples/**", "bench/results/**", "**/*.js", "**/*.mjs", "**/*.cjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { nex },
    rules: {
      "nex/layers": "error",
      "nex/no-cycle": "error",
      "@typescript-eslint/no-floating-promises": [
        "error",
        { allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["test", "describe", "it", "suite", "before", "after", "beforeEach", "afterEach"] }] },
      ],
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: false }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    // The dashboard shows text from NATS (names, log lines, errors): it never hands any of it to an HTML parser.
    files: ["src/ui/**/*.ts"],
    rules: {
      "no-restricted-properties": [
        "error",
        ...["innerHTML", "outerHTML", "insertAdjacentHTML", "createContextualFragment"].map((property) => ({
          property,
          message: "text from NATS becomes text nodes: use h() and fill() from src/ui/page/dom.ts",
        })),
        { object: "document", property: "write", message: "text from NATS becomes text nodes: use h() and fill() from src/ui/page/dom.ts" },
      ],
    },
  },
);
