// Bundles the dashboard's page (src/ui/page) into dist/ui/page, after tsc has compiled the bundler itself.
import { writePageBundle } from "../dist/ui/bundle.js";

await writePageBundle("src/ui/page", "dist/ui/page");
