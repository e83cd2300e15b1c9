/**
 * The page's files: `index.html`, `app.js` (the page's TypeScript and the NATS client, bundled by esbuild for the
 * browser) and `app.css`. Run from source, the page is bundled in memory at start; the build writes the same bundle
 * next to the compiled server (`dist/ui/page/`), which is what an installed package serves.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** The three files the dashboard serves. */
export interface PageAssets {
  html: string;
  js: string;
  css: string;
}

const HERE = dirname(fileURLToPath(import.meta.url));

async function bundle(srcDir: string): Promise<PageAssets> {
  const out = await build({
    entryPoints: [
      { in: join(srcDir, "main.ts"), out: "app" },
      { in: join(srcDir, "style.css"), out: "app" },
    ],
    bundle: true,
    write: false,
    outdir: "out",
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "eof",
    logLevel: "silent",
  });
  const file = (ext: string): string => {
    const f = out.outputFiles.find((o) => o.path.endsWith(`app.${ext}`));
    if (!f) throw new Error(`the page bundle has no app.${ext}`);
    return f.text;
  };
  return { html: readFileSync(join(srcDir, "index.html"), "utf8"), js: file("js"), css: file("css") };
}

/** The page's files: bundled from source when the source is here, else the ones the build wrote. */
export async function pageAssets(): Promise<PageAssets> {
  const src = join(HERE, "page");
  if (existsSync(join(src, "main.ts"))) return bundle(src);
  const read = (f: string): string => readFileSync(join(src, f), "utf8");
  return { html: read("index.html"), js: read("app.js"), css: read("app.css") };
}

/** Writes the bundled page from `srcDir` into `outDir` (the build runs this after compiling). */
export async function writePageBundle(srcDir: string, outDir: string): Promise<void> {
  const a = await bundle(srcDir);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "index.html"), a.html);
  writeFileSync(join(outDir, "app.js"), a.js);
  writeFileSync(join(outDir, "app.css"), a.css);
}
