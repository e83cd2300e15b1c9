/**
 * Compiling the runtime's own scripts (prelude, web APIs, URL, host API) into each new isolate. Their V8 code cache
 * is kept per runner process, so every isolate after the first skips parsing them: this is most of a deploy's cost.
 */
import type ivm from "isolated-vm";

const caches = new Map<string, ivm.ExternalCopy<ArrayBuffer>>();

/** Compiles one of the runtime's fixed scripts, reusing (or producing) its code cache. */
export async function compileRuntimeScript(isolate: ivm.Isolate, source: string, filename: string): Promise<ivm.Script> {
  const cached = caches.get(filename);
  const script = (await isolate.compileScript(source, cached ? { filename, cachedData: cached } : { filename, produceCachedData: true })) as ivm.Script &
    ivm.CachedDataResult & { cachedDataRejected?: boolean };
  if (cached && script.cachedDataRejected) caches.delete(filename);
  else if (!cached && script.cachedData) caches.set(filename, script.cachedData);
  return script;
}
