/** Node tags: the user's `--tags k=v` plus automatic facts about the host, used for placement. */
import { arch, cpus, platform, totalmem } from "node:os";
import { VERSION } from "../contract/index.js";

/** Parses `k=v` strings into a map; throws on a malformed entry. */
export function parseTags(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    for (const part of e.split(",")) {
      if (part.trim() === "") continue;
      const i = part.indexOf("=");
      if (i <= 0) throw new Error(`tag "${part}" is not in the form key=value`);
      out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
    }
  }
  return out;
}

/** The automatic tags every node carries. */
export function automaticTags(extra: { name: string; sandbox: boolean }): Record<string, string> {
  return {
    "nex.os": platform(),
    "nex.arch": arch(),
    "nex.cpus": String(cpus().length),
    "nex.memory_mib": String(Math.round(totalmem() / 1024 / 1024)),
    "nex.version": VERSION,
    "nex.node": extra.name,
    "nex.sandbox": String(extra.sandbox),
  };
}

/** True when `have` contains every key/value of `want`. */
export function tagsMatch(have: Record<string, string>, want: Record<string, string> | undefined): boolean {
  if (!want) return true;
  return Object.entries(want).every(([k, v]) => have[k] === v);
}
