/** A node's identity: an nkey server key pair, stable across restarts when it lives in a seed file. */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { createServer, fromSeed, type KeyPair } from "@nats-io/nkeys";

/** The node's key pair and public id. */
export interface NodeIdentity {
  readonly id: string;
  readonly keyPair: KeyPair;
}

/** Loads the seed from `seedFile` (creating it, mode 0600, when missing), or makes a fresh identity. */
export function loadIdentity(seedFile?: string): NodeIdentity {
  if (seedFile === undefined) {
    const kp = createServer();
    return { id: kp.getPublicKey(), keyPair: kp };
  }
  if (existsSync(seedFile)) {
    const seed = readFileSync(seedFile, "utf8").trim();
    const kp = fromSeed(new TextEncoder().encode(seed));
    const id = kp.getPublicKey();
    if (!id.startsWith("N")) throw new Error(`${seedFile} does not hold a server nkey seed (SN…)`);
    return { id, keyPair: kp };
  }
  const kp = createServer();
  mkdirSync(dirname(seedFile), { recursive: true });
  writeFileSync(seedFile, new TextDecoder().decode(kp.getSeed()) + "\n", { mode: 0o600 });
  chmodSync(seedFile, 0o600);
  return { id: kp.getPublicKey(), keyPair: kp };
}
