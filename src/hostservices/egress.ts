/**
 * The egress policy of functions' HTTP calls. By default a function may not reach the node's own network: loopback,
 * private (RFC 1918, CGNAT), link-local (cloud metadata at 169.254.169.254), multicast, unspecified, reserved and
 * broadcast addresses, IPv6 unique-local and link-local, IPv6 forms that embed one of those IPv4 addresses, and
 * `localhost` / `*.localhost` names are refused. The check runs on the addresses a name resolves to (every one of
 * them), and the connection then goes to exactly those addresses, so a DNS answer cannot change between the check
 * and the connect. An allow list opens what a deployment needs.
 *
 * ```ts
 * const policy = new EgressPolicy(["10.1.2.3:8443", "db.internal", "192.168.0.0/16"]);
 * const addrs = await policy.resolve(new URL("https://db.internal/health")); // or throws http/denied
 * ```
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { hostError } from "./types.js";

/** One resolved, checked address. */
export interface CheckedAddress {
  address: string;
  family: 4 | 6;
}

/** An IP address as a number, with its family. */
interface Ip {
  family: 4 | 6;
  value: bigint;
}

/** A network: an address and a prefix length. */
interface Net {
  family: 4 | 6;
  base: bigint;
  bits: number;
}

/** An allow-list entry. */
type AllowEntry = { kind: "name"; name: string; wildcard: boolean; port?: number } | { kind: "net"; net: Net; port?: number };

function parseIPv4(s: string): bigint | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    v = (v << 8n) | BigInt(Number(p));
  }
  return v;
}

function parseIPv6(input: string): bigint | undefined {
  const s = input.replace(/%.*$/, "");
  if (isIP(s) !== 6) return undefined;
  const halves = s.split("::");
  const groups = (h: string): string[] => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0] ?? "");
  const tail = halves.length > 1 ? groups(halves[1] ?? "") : [];
  const words: number[] = [];
  const push = (list: string[]): void => {
    for (const g of list) {
      if (g.includes(".")) {
        const v4 = parseIPv4(g);
        if (v4 === undefined) return;
        words.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else words.push(parseInt(g, 16));
    }
  };
  push(head);
  const headLen = words.length;
  push(tail);
  const missing = 8 - words.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const all = [...words.slice(0, headLen), ...Array<number>(missing).fill(0), ...words.slice(headLen)];
  return all.reduce((acc, w) => (acc << 16n) | BigInt(w), 0n);
}

/** Parses an IP literal (IPv6 with or without brackets). */
export function parseIp(s: string): Ip | undefined {
  const bare = s.startsWith("[") && s.endsWith("]") ? s.slice(1, -1) : s;
  const v4 = parseIPv4(bare);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = parseIPv6(bare);
  return v6 === undefined ? undefined : { family: 6, value: v6 };
}

function net(cidr: string): Net {
  const [addr = "", len = ""] = cidr.split("/");
  const ip = parseIp(addr);
  if (!ip) throw new Error(`"${cidr}" is not a CIDR`);
  const width = ip.family === 4 ? 32 : 128;
  const bits = Number(len);
  if (!/^\d{1,3}$/.test(len) || bits > width) throw new Error(`"${cidr}" has an invalid prefix length`);
  const shift = BigInt(width - bits);
  return { family: ip.family, base: (ip.value >> shift) << shift, bits };
}

function contains(n: Net, ip: Ip): boolean {
  if (n.family !== ip.family) return false;
  const shift = BigInt((ip.family === 4 ? 32 : 128) - n.bits);
  return ip.value >> shift === n.base >> shift;
}

const V4_RANGES: [string, string][] = [
  ["0.0.0.0/8", "an unspecified (this-network) address"],
  ["10.0.0.0/8", "a private address"],
  ["100.64.0.0/10", "a shared (CGNAT) address"],
  ["127.0.0.0/8", "a loopback address"],
  ["169.254.0.0/16", "a link-local address (this includes cloud metadata services)"],
  ["172.16.0.0/12", "a private address"],
  ["192.0.0.0/24", "an IETF protocol address"],
  ["192.168.0.0/16", "a private address"],
  ["198.18.0.0/15", "a benchmarking address"],
  ["224.0.0.0/4", "a multicast address"],
  ["240.0.0.0/4", "a reserved or broadcast address"],
];

const V6_RANGES: [string, string][] = [
  ["::/128", "an unspecified address"],
  ["::1/128", "a loopback address"],
  ["100::/64", "a discard address"],
  ["64:ff9b:1::/48", "a local NAT64 address"],
  ["fc00::/7", "a unique-local address"],
  ["fe80::/10", "a link-local address"],
  ["fec0::/10", "a site-local address"],
  ["ff00::/8", "a multicast address"],
];

/** IPv6 ranges that carry an IPv4 address, and where it sits: the IPv4 address is checked too. */
const V6_EMBEDDING: [Net, (v: bigint) => bigint][] = [
  [net("::ffff:0:0/96"), (v) => v & 0xffffffffn],
  [net("::/96"), (v) => v & 0xffffffffn],
  [net("::ffff:0:0:0/96"), (v) => v & 0xffffffffn],
  [net("64:ff9b::/96"), (v) => v & 0xffffffffn],
  [net("2002::/16"), (v) => (v >> 80n) & 0xffffffffn],
];

const FORBIDDEN: [Net, string][] = [...V4_RANGES, ...V6_RANGES].map(([c, why]) => [net(c), why]);

/** The IPv4 address an IPv6 address embeds (mapped, compatible, NAT64, 6to4), if any. */
function embeddedV4(ip: Ip): Ip | undefined {
  if (ip.family !== 6) return undefined;
  const hit = V6_EMBEDDING.find(([n]) => contains(n, ip));
  return hit ? { family: 4, value: hit[1](ip.value) } : undefined;
}

/** Why the default policy refuses an address, or undefined when it is a public address. */
export function forbiddenReason(address: string): string | undefined {
  const ip = parseIp(address);
  if (!ip) return "not an IP address";
  const direct = FORBIDDEN.find(([n]) => contains(n, ip));
  if (direct) return direct[1];
  const v4 = embeddedV4(ip);
  if (v4) {
    const inner = FORBIDDEN.find(([n]) => contains(n, v4));
    if (inner) return `${inner[1]} in IPv6 form`;
  }
  return undefined;
}

/** True for `localhost` and any name below it. */
function isLocalhostName(name: string): boolean {
  return name === "localhost" || name.endsWith(".localhost");
}

function parsePort(p: string, entry: string): number {
  const n = Number(p);
  if (!/^\d{1,5}$/.test(p) || n < 1 || n > 65_535) throw new Error(`"${entry}" has an invalid port`);
  return n;
}

const NAME = /^(\*\.)?([a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;

/** Parses one allow-list entry: HOST, HOST:PORT, IP, IP:PORT, [IPv6]:PORT or CIDR. Throws an Error saying why not. */
export function parseAllowEntry(raw: string): AllowEntry {
  const entry = raw.trim().toLowerCase().replace(/\.$/, "");
  if (entry === "") throw new Error("an empty entry");
  if (entry.includes("/")) return { kind: "net", net: net(entry) };
  const bracketed = /^\[([^\]]+)\](?::(.+))?$/.exec(entry);
  if (bracketed) {
    const ip = parseIp(bracketed[1]!);
    if (!ip || ip.family !== 6) throw new Error(`"${raw}" is not an IPv6 address`);
    return { kind: "net", net: { family: 6, base: ip.value, bits: 128 }, port: bracketed[2] ? parsePort(bracketed[2], raw) : undefined };
  }
  const whole = parseIp(entry);
  if (whole) return { kind: "net", net: { family: whole.family, base: whole.value, bits: whole.family === 4 ? 32 : 128 } };
  const colon = entry.lastIndexOf(":");
  const host = colon >= 0 ? entry.slice(0, colon) : entry;
  const port = colon >= 0 ? parsePort(entry.slice(colon + 1), raw) : undefined;
  const ip = parseIp(host);
  if (ip?.family === 4) return { kind: "net", net: { family: 4, base: ip.value, bits: 32 }, port };
  if (!NAME.test(host)) throw new Error(`"${raw}" is neither a host name, an IP address nor a CIDR`);
  const wildcard = host.startsWith("*.");
  return { kind: "name", name: wildcard ? host.slice(2) : host, wildcard, port };
}

/** The port a URL connects to. */
function portOf(u: URL): number {
  return u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
}

/** Allow-list matching and the checks, for one set of entries. */
export class EgressPolicy {
  private readonly entries: AllowEntry[];

  constructor(allow: readonly string[] = []) {
    this.entries = allow.map((e) => parseAllowEntry(e));
  }

  private nameAllowed(name: string, port: number): boolean {
    return this.entries.some(
      (e) => e.kind === "name" && (e.port === undefined || e.port === port) && (e.wildcard ? name.endsWith(`.${e.name}`) : name === e.name),
    );
  }

  private addressAllowed(address: string, port: number): boolean {
    const ip = parseIp(address);
    if (!ip) return false;
    const v4 = embeddedV4(ip);
    return this.entries.some(
      (e) => e.kind === "net" && (e.port === undefined || e.port === port) && (contains(e.net, ip) || (v4 !== undefined && contains(e.net, v4))),
    );
  }

  /**
   * Resolves the URL's host and checks every address; returns the addresses to connect to, or throws
   * NEX_E_HOST_SERVICE (reason `denied`) naming what was refused and why. `label` starts the error messages.
   */
  async resolve(u: URL, label = u.href): Promise<CheckedAddress[]> {
    const host = u.hostname.replace(/^\[|\]$/g, "").toLowerCase().replace(/\.$/, "");
    const port = portOf(u);
    const named = this.nameAllowed(host, port);
    const refuse = (what: string, why: string): never => {
      throw hostError("http", "denied", `${label} refused: ${what} is ${why}; functions may not reach it unless the node allows it (--allow-egress)`);
    };
    const literal = parseIp(host);
    if (!literal && isLocalhostName(host) && !named) refuse(`"${host}"`, "a local host name");
    let addresses: CheckedAddress[];
    if (literal) addresses = [{ address: host, family: literal.family }];
    else {
      try {
        const found = await lookup(host, { all: true, verbatim: true });
        addresses = found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
      } catch (err) {
        throw hostError("http", "failed", `${label} failed: cannot resolve ${host}`, err);
      }
      if (addresses.length === 0) throw hostError("http", "failed", `${label} failed: ${host} has no address`);
    }
    if (named) return addresses;
    for (const a of addresses) {
      const why = forbiddenReason(a.address);
      if (why !== undefined && !this.addressAllowed(a.address, port)) refuse(literal ? a.address : `${host} (${a.address})`, why);
    }
    return addresses;
  }
}
