// Writes docs/errors.md from the error table (src/contract/errors.ts). A test fails when the page is stale.
import { writeFileSync } from "node:fs";
import { errorsMarkdown } from "../src/contract/errors-doc.js";

writeFileSync(new URL("../docs/errors.md", import.meta.url), errorsMarkdown());
