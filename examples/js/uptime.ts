// A TypeScript function that imports an npm library: `nex devrun examples/js/uptime.ts --trigger_subject=uptime`
// bundles it (with `ms`) into one script before deploying it.
import ms from "ms";

interface Reading {
  since?: number;
}

interface Context {
  name: string;
  setHeader(name: string, value: string): void;
}

export default async (subject: string, payload: Uint8Array, ctx: Context) => {
  const started = kv("uptime").get("started");
  const since = started ? Number(new TextDecoder().decode(started)) : Date.now();
  if (!started) kv("uptime").set("started", String(since));
  const req: Reading = payload.length ? JSON.parse(new TextDecoder().decode(payload)) : {};
  const from = req.since ?? since;
  ctx.setHeader("Nex-Function", ctx.name);
  return { subject, up: ms(Date.now() - from, { long: true }), upMs: Date.now() - from, id: crypto.randomUUID() };
};

declare function kv(bucket: string): { get(key: string): Uint8Array | null; set(key: string, value: string | Uint8Array): number };
