/** Renders the error table as the docs page `docs/errors.md` (kept in step by a test). */
import { ERRORS } from "./errors.js";

/** The markdown of docs/errors.md. */
export function errorsMarkdown(): string {
  const rows = Object.entries(ERRORS).map(([code, e]) => `| \`${code}\` | ${e.status} | ${e.message} | ${e.hint.replace(/\|/g, "\\|")} |`);
  return [
    "# Error codes",
    "",
    "Every failure nex-ts reports carries one of these stable codes. Control API errors are NATS micro errors:",
    "the `Nats-Service-Error` header holds the message, `Nats-Service-Error-Code` the status, and the body is",
    "JSON `{\"code\", \"message\", \"hint\"}`. A failed function invocation is answered the same way, plus a",
    "`Nex-Error-Code` header. The CLI prints `nex: CODE: message` and the hint, and exits with status 1.",
    "Codes are never reused.",
    "",
    "This page is generated from `src/contract/errors.ts` by `npx tsx scripts/errors-doc.ts`.",
    "",
    "| Code | Status | Meaning | Hint |",
    "|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}
