/**
 * NATS nkeys backed by node:crypto's ed25519. The pure-JS nkeys library takes about 10 ms per signature and
 * re-derives the public key on every call; a node mints a credential for every workload, and every workload
 * connection signs a nonce, so this module does both in microseconds. Keys are ordinary nkeys: seeds and public
 * keys round-trip with `@nats-io/nkeys` (a test checks it), and the objects implement its `KeyPair` interface,
 * so `@nats-io/jwt` signs with them.
 *
 * ```ts
 * const account = newKey("account");
 * const kp = keyPair(account.seed);          // sign(), getPublicKey(), …
 * ```
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import type { KeyPair } from "@nats-io/nkeys";

/** The nkey roles nex-ts uses, with their prefix bytes. */
export const Role = { operator: 14 << 3, account: 0, user: 20 << 3, server: 13 << 3 } as const;
/** One nkey role. */
export type RoleName = keyof typeof Role;

const SEED = 18 << 3;
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
// ed25519 PKCS#8 DER before the 32-byte seed.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(s: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of s) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) throw new Error("not an nkey: invalid character");
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

function withCrc(raw: Uint8Array): string {
  const crc = crc16(raw);
  const all = new Uint8Array(raw.length + 2);
  all.set(raw);
  all[raw.length] = crc & 0xff;
  all[raw.length + 1] = crc >> 8;
  return base32(all);
}

function checked(s: string): Uint8Array {
  const all = unbase32(s);
  if (all.length < 3) throw new Error("not an nkey: too short");
  const raw = all.subarray(0, all.length - 2);
  const crc = all[all.length - 2]! | (all[all.length - 1]! << 8);
  if (crc16(raw) !== crc) throw new Error("not an nkey: bad checksum");
  return raw;
}

/** Encodes a 32-byte ed25519 public key as an nkey of `role`. */
export function encodePublic(role: RoleName, raw: Uint8Array): string {
  return withCrc(Uint8Array.from([Role[role], ...raw]));
}

/** Encodes a 32-byte ed25519 seed as an nkey seed of `role`. */
export function encodeSeed(role: RoleName, raw: Uint8Array): string {
  const r = Role[role];
  return withCrc(Uint8Array.from([SEED | (r >> 5), (r & 31) << 3, ...raw]));
}

/** Decodes an nkey seed into its role and 32 raw bytes; throws on anything else. */
export function decodeSeed(seed: string): { role: RoleName; raw: Uint8Array } {
  const raw = checked(seed.trim());
  if (raw.length !== 34 || (raw[0]! & 248) !== SEED) throw new Error("not an nkey seed");
  const r = ((raw[0]! & 7) << 5) | ((raw[1]! & 248) >> 3);
  const role = (Object.keys(Role) as RoleName[]).find((k) => Role[k] === r);
  if (!role) throw new Error("unsupported nkey seed role");
  return { role, raw: raw.slice(2) };
}

/** Decodes a public nkey (of `role`, when given) into its 32 raw bytes. */
export function decodePublic(key: string, role?: RoleName): Uint8Array {
  const raw = checked(key.trim());
  if (raw.length !== 33) throw new Error("not a public nkey");
  if (role !== undefined && raw[0] !== Role[role]) throw new Error(`not a public ${role} nkey`);
  return raw.slice(1);
}

/** True when `key` is a well-formed public nkey of `role`. */
export function isPublicKey(key: unknown, role: RoleName): key is string {
  if (typeof key !== "string") return false;
  try {
    decodePublic(key, role);
    return true;
  } catch {
    return false;
  }
}

/** An nkey key pair signing through node:crypto. Implements nkeys' `KeyPair`. */
export class FastKeyPair implements KeyPair {
  readonly publicKey: string;
  private readonly key: KeyObject;
  private readonly pubKey: KeyObject;

  constructor(
    readonly role: RoleName,
    private readonly rawSeed: Uint8Array,
  ) {
    this.key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, rawSeed]), format: "der", type: "pkcs8" });
    this.pubKey = createPublicKey(this.key);
    const spki = this.pubKey.export({ format: "der", type: "spki" });
    this.publicKey = encodePublic(role, spki.subarray(spki.length - 32));
  }

  getPublicKey(): string {
    return this.publicKey;
  }

  getPrivateKey(): Uint8Array {
    return new TextEncoder().encode(this.seed);
  }

  getSeed(): Uint8Array {
    return new TextEncoder().encode(this.seed);
  }

  /** The seed as text (`SA…`, `SU…`). */
  get seed(): string {
    return encodeSeed(this.role, this.rawSeed);
  }

  sign(input: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, input, this.key));
  }

  verify(input: Uint8Array, sig: Uint8Array): boolean {
    return verify(null, input, this.pubKey, sig);
  }

  seal(): Uint8Array {
    throw new Error("an ed25519 nkey cannot seal; only curve keys can");
  }

  open(): Uint8Array | null {
    throw new Error("an ed25519 nkey cannot open sealed data; only curve keys can");
  }

  clear(): void {
    this.rawSeed.fill(0);
  }
}

/** A key pair from a seed (`SO…`, `SA…`, `SU…`, `SN…`). */
export function keyPair(seed: string): FastKeyPair {
  const { role, raw } = decodeSeed(seed);
  return new FastKeyPair(role, raw);
}

/** A fresh key pair of `role`. */
export function newKey(role: RoleName): FastKeyPair {
  const { privateKey } = generateKeyPairSync("ed25519");
  const der = privateKey.export({ format: "der", type: "pkcs8" });
  return new FastKeyPair(role, new Uint8Array(der.subarray(der.length - 32)));
}

/** Verifies an ed25519 signature by a public nkey. */
export function verifyBy(publicKey: string, data: Uint8Array, sig: Uint8Array): boolean {
  let raw: Uint8Array;
  try {
    raw = decodePublic(publicKey);
  } catch {
    return false;
  }
  const spkiPrefix = Buffer.from("302a300506032b6570032100", "hex");
  const key = createPublicKey({ key: Buffer.concat([spkiPrefix, raw]), format: "der", type: "spki" });
  try {
    return verify(null, data, key, sig);
  } catch {
    return false;
  }
}

/** The text of a `.creds` file (what `--creds` reads). */
export function credsText(jwt: string, seed: string): string {
  return (
    `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n` +
    `************************* IMPORTANT *************************\n` +
    `NKEY Seed printed below can be used to sign and prove identity.\nNKEYs are sensitive and should be treated as secrets.\n\n` +
    `-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n\n*************************************************************\n`
  );
}

/** Reads the JWT and seed out of a `.creds` file's text. */
export function parseCredsText(text: string): { jwt: string; seed: string } {
  const jwt = /-----BEGIN NATS USER JWT-----\s*([^\s-][^\s]*)\s*------END NATS USER JWT------/.exec(text)?.[1];
  const seed = /-----BEGIN USER NKEY SEED-----\s*(SU[A-Z2-7]+)\s*------END USER NKEY SEED------/.exec(text)?.[1];
  if (!jwt || !seed) throw new Error("not a NATS credentials file");
  return { jwt, seed };
}
