/**
 * A seeded generator of malformed control API requests. The same seed gives the same requests, so a failure found
 * once can be replayed (`NEX_FUZZ_SEED=<seed>`). Bodies are built as JSON text, not through JSON.stringify, so they can
 * hold what no JS value can: numbers like 1e400, duplicate keys, nesting deeper than any recursive encoder allows.
 */
import type { ControlVerb } from "../../src/contract/index.js";

/** mulberry32: a small PRNG with a 32-bit state, good enough to spread inputs. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** JSON text that goes into a body as it is. */
class Raw {
  constructor(readonly text: string) {}
}

/** An object as a list of entries, so a key may appear twice. */
class Entries {
  constructor(readonly list: [string, Json][]) {}
}

type Json = null | boolean | number | string | Raw | Entries | Json[] | { [k: string]: Json };

/** Strings that broke parsers, headers, terminals or prototype chains somewhere. */
const NASTY_STRINGS = [
  "", " ", "a\r\nb", "\r\n", "\n", "\0", "a\u0000b", "\u001b[31mred", "\u007f", "\u0085", "\u009b31m", "\u2028", "\u2029",
  "\u202eevil", "\u200b", "\ufeff", "\ud800", "\udfff", "😀", "é", "__proto__", "constructor", "toString", "hasOwnProperty",
  "prototype", "$NEX.SVC.x", ">", "*", "a.b", "a b", "../..", "%2f", "null", "undefined", "NaN", "-1", "1e400", "\\", '"',
  "x".repeat(65), "x".repeat(257), "\t", "v8", "native", "wasm", "python", "V8", "v8\n",
];

/** Field values of the right shape that are valid, or nearly so. */
const GOOD = {
  name: ["fz", "fuzz-1", "a_b", "x".repeat(64), "Z9"],
  type: ["v8", "wasm", "native"],
  // Locations that pass the decoder but never fetch: a generated deploy must not run anything.
  location: [
    "nats://NOPE_FUZZ/x", "nats://NEX_ARTIFACTS/default/nope", "nats://B/%ZZ", "nats://B/a%2fb", "file:///nonexistent-fuzz/x",
    "file:///a%2fb", "file:///a%00b", "file:///%2e%2e/etc/passwd", "file:///etc/shadow", "file:///dev/zero", "file:///proc/self/environ",
    "http://127.0.0.1:1/x", "https://127.0.0.1:1/x", "http://user:pw@127.0.0.1:1/x", "http://[::1]:1/x", "http://127.0.0.1:99999/x",
    "http://%zz/", "https://[::1/x",
  ],
  sha256: ["0".repeat(64), "A".repeat(64), "0".repeat(63), "g".repeat(64)],
  subject: ["fz.a", "fz.*", "fz.>", "$SYS.x", ">", "*.x", "a..b", "fz.a\r\nb", "fz. a", "x".repeat(256), "_INBOX.x", "fz.a>"],
  envKey: ["A", "PATH", "__proto__", "constructor", "LD_PRELOAD", "GCONV_PATH", "1A", "A-B", "", "NATS_URL"],
  tagKey: ["zone", "nex.os", "__proto__", "constructor", "bad key", "x".repeat(65), "", "k\n"],
  lifecycle: ["service", "job", "function", "daemon", "JOB"],
  restart: ["never", "on-failure", "always", "sometimes"],
} as const;

/** Numbers and number-like text of every kind a decoder may choke on. */
const NUMBERS: Json[] = [
  0, 1, -1, 7, 8, 64, 5_000, 65_536, 65_537, 900_000, 900_001, 2 ** 31, 2 ** 53, -(2 ** 31), 1.5, 0.5, 0.001, 1e21,
  new Raw("-0"), new Raw("1e400"), new Raw("-1e400"), new Raw("1.0"), new Raw("1E3"), new Raw("123456789012345678901234567890"),
  new Raw("0.0000000000000000001"), "5000", "30s", "1e3", true, null,
];

/** Durations: numbers and strings, good and bad. */
const DURATIONS: Json[] = [
  "30s", "soon", -1, "1h", "25h", "24h", "0", 0, "30s\n", " 30s ", "\t30s", "1e3", "0x1f", "-5s", "5 s", "30S", "∞", "1.5.2s",
  "9".repeat(400), `${"9".repeat(30)}d`, 86_400_001, 86_400_000, new Raw("1e400"), 1.5, "", [], {}, true, "500ms", "1d", "2d",
];

/** Where a request comes from and what it may reach. */
export interface Target {
  verb: ControlVerb;
  /** The deploy's namespace, when a body field refers to one. */
  namespace: string;
}

/** Generates request bodies for one run. */
export class RequestGen {
  private readonly r: () => number;

  constructor(readonly seed: number) {
    this.r = prng(seed);
  }

  int(n: number): number {
    return Math.floor(this.r() * n);
  }

  chance(p: number): boolean {
    return this.r() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  /** A string: nasty, random printable, random code units, or (unless `short`) long. */
  str(short = false): string {
    switch (this.int(short ? 4 : 5)) {
      case 0:
      case 1:
        return this.pick(NASTY_STRINGS);
      case 2:
        return Array.from({ length: this.int(20) }, () => String.fromCharCode(32 + this.int(95))).join("");
      case 3:
        return Array.from({ length: this.int(12) }, () => String.fromCharCode(this.int(0x10000))).join("");
      default:
        return this.pick(NASTY_STRINGS) + "y".repeat(this.int(5_000));
    }
  }

  /** Any JSON value, nested at most `depth` more levels. */
  any(depth = 3): Json {
    const k = this.int(depth > 0 ? 8 : 5);
    switch (k) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.pick(NUMBERS);
      case 3:
      case 4:
        return this.str();
      case 5:
        return this.chance(0.3) ? this.deep() : this.pick(NUMBERS);
      case 6:
        return Array.from({ length: this.int(4) }, () => this.any(depth - 1));
      default:
        return new Entries(Array.from({ length: this.int(4) }, (): [string, Json] => [this.str(), this.any(depth - 1)]));
    }
  }

  /** Nesting far deeper than a recursive encoder can follow. */
  deep(): Raw {
    const d = this.pick([10, 100, 1_000, 10_000, 10_000, 100_000]);
    return this.chance(0.5) ? new Raw("[".repeat(d) + "]".repeat(d)) : new Raw('{"a":'.repeat(d) + "1" + "}".repeat(d));
  }

  private good(kind: keyof typeof GOOD): string {
    return this.pick(GOOD[kind]);
  }

  /** A value for a known field: often of the right shape, else anything. */
  field(name: string): Json {
    if (this.chance(0.35)) return this.any();
    if (this.chance(0.04)) return this.deep();
    switch (name) {
      case "name":
      case "id":
      case "namespace":
        return this.chance(0.7) ? this.good("name") : this.str();
      case "type":
        return this.good("type");
      case "location":
        return this.good("location");
      case "sha256":
        return this.good("sha256");
      case "description":
        return this.str();
      case "triggers":
        return Array.from({ length: this.pick([0, 1, 2, 65]) }, () => (this.chance(0.8) ? this.good("subject") : this.any(1)));
      case "argv": {
        const n = this.pick([0, 1, 3, 257]);
        return Array.from({ length: n }, () => (this.chance(0.8) ? this.str(n > 3) : this.any(1)));
      }
      case "env":
        return this.map("envKey");
      case "tags":
        return this.map("tagKey");
      case "lifecycle":
        return this.good("lifecycle");
      case "restart":
        return this.good("restart");
      case "noNetwork":
        return this.pick([true, false, "true", 0, 1, null]);
      case "delayMs":
        return this.pick(DURATIONS);
      default:
        return this.pick(NUMBERS);
    }
  }

  private map(kind: "envKey" | "tagKey"): Json {
    const n = this.pick([0, 1, 2, 3, 33, 257]);
    return new Entries(
      Array.from({ length: n }, (_, i): [string, Json] => [
        n > 3 ? `K${i}` : this.chance(0.7) ? this.good(kind) : this.str(),
        this.chance(0.7) ? this.str(n > 3) : this.any(n > 3 ? 0 : 1),
      ]),
    );
  }

  /** An object body for `verb`: some of its fields, perhaps one it does not have, perhaps a duplicated key. */
  object(fields: readonly string[]): Json {
    const entries: [string, Json][] = [];
    for (const f of fields) if (this.chance(0.6)) entries.push([f, this.field(f)]);
    if (this.chance(0.25)) entries.push([this.chance(0.5) ? this.str() : "delay", this.any()]);
    if (entries.length > 0 && this.chance(0.1)) entries.push([entries[0]![0], this.any(1)]);
    return new Entries(entries);
  }

  /** A valid body of `verb` with one or two of its fields replaced by generated values. */
  mutated(verb: ControlVerb): Json {
    const base: Record<string, Json> = { ...VALID[verb] };
    const fields = VERB_FIELDS[verb];
    for (let n = 1 + this.int(2); n > 0 && fields.length > 0; n--) {
      const f = this.pick(fields);
      base[f] = this.field(f);
    }
    return new Entries(Object.entries(base));
  }

  /** A request body of at most `maxBytes`: objects of the verb's fields (often a valid one, mutated), else broken or hostile bytes. */
  body(verb: ControlVerb, maxBytes: number): Uint8Array {
    for (;;) {
      const b = this.anyBody(verb, maxBytes);
      if (b.length <= maxBytes) return b;
    }
  }

  private anyBody(verb: ControlVerb, maxBytes: number): Uint8Array {
    const enc = new TextEncoder();
    const fields = VERB_FIELDS[verb];
    switch (this.int(20)) {
      case 0:
        return Uint8Array.from({ length: this.int(64) }, () => this.int(256));
      case 1:
        return Uint8Array.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, this.pick([0xff, 0xc0, 0x80, 0xed, 0xf8]), 0xa0, 0x22, 0x7d]);
      case 2:
        return enc.encode(this.pick(["[1]", '"x"', "42", "null", "true", "{", "{}x", "{'a':1}", "{\"a\":NaN}", "{/**/}", "\ufeff{}", " ", "{}\u0000"]));
      case 3:
        return enc.encode(toJson(this.deep()));
      case 4: {
        // A huge field, up to just below what the server lets a client publish.
        const f = this.pick([...fields, "huge"]);
        const size = Math.max(0, maxBytes - 64 - this.int(4_096));
        return enc.encode(`{${JSON.stringify(f)}:${JSON.stringify("z".repeat(size))}}`);
      }
      case 5:
      case 6:
      case 7:
      case 8:
      case 9:
      case 10:
      case 11:
      case 12:
        return enc.encode(toJson(this.mutated(verb)));
      default:
        return enc.encode(toJson(this.object(fields)));
    }
  }
}

/** JSON text of a generated value. */
export function toJson(v: Json): string {
  if (v instanceof Raw) return v.text;
  if (v instanceof Entries) return `{${v.list.map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(",")}}`;
  if (Array.isArray(v)) return `[${v.map(toJson).join(",")}]`;
  if (v !== null && typeof v === "object") return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(",")}}`;
  return JSON.stringify(v) ?? "null";
}

/** A valid body of each verb, for mutation. The deploy's location never fetches. */
const VALID: Record<ControlVerb, Record<string, Json>> = {
  PING: {},
  INFO: {},
  AUCTION: { type: "native" },
  DEPLOY: { name: "fz", type: "native", location: "nats://NOPE_FUZZ/x" },
  STOP: { name: "fz" },
  LIST: {},
  LAMEDUCK: { delayMs: "30s" },
  PLACE: { name: "fz", generation: 1 },
  INSPECT: { name: "fz" },
};

/** The fields each verb's body has. */
export const VERB_FIELDS: Record<ControlVerb, readonly string[]> = {
  PING: ["tags"],
  INFO: [],
  AUCTION: ["type", "tags", "namespace", "sandbox", "exclude", "memoryLimitMiB", "timeoutMs", "maxProcesses", "cpus"],
  DEPLOY: [
    "name", "namespace", "type", "location", "sha256", "description", "argv", "env", "triggers", "timeoutMs", "memoryLimitMiB",
    "lifecycle", "restart", "tags", "noNetwork", "maxProcesses", "replicas", "spread", "cpus",
  ],
  STOP: ["id", "name"],
  LIST: ["name"],
  LAMEDUCK: ["delayMs"],
  PLACE: ["name", "generation"],
  INSPECT: ["id", "name"],
};
