/**
 * Telling the server's account resolver about accounts: push a new or changed account JWT, delete an account.
 * Only a system-account user can do either. On a cluster, every server answers, and all must agree.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { encodeGeneric } from "@nats-io/jwt";
import { NexError } from "../contract/index.js";
import { claimsOf } from "./jwts.js";
import type { FastKeyPair } from "../nats/nkeys.js";

interface ClaimsReply {
  data?: { account?: string; code?: number; message?: string };
  error?: { code?: number; description?: string };
}

async function ask(sys: NatsConnection, subject: string, body: string, what: string): Promise<void> {
  const replies: ClaimsReply[] = [];
  try {
    const it = await sys.requestMany(subject, body, { strategy: "stall", maxWait: 3_000, stall: 300 });
    for await (const m of it) replies.push(m.json<ClaimsReply>());
  } catch (err) {
    throw new NexError("NEX_E_INTERNAL", `${what}: the account resolver did not answer: ${(err as Error).message}`);
  }
  if (replies.length === 0) throw new NexError("NEX_E_INTERNAL", `${what}: the account resolver did not answer`, { hint: "Is the server in operator mode with a full resolver, and is this a system user?" });
  const bad = replies.find((r) => r.error || (r.data?.code ?? 200) !== 200);
  if (bad) throw new NexError("NEX_E_INTERNAL", `${what}: ${bad.error?.description ?? bad.data?.message ?? "refused"}`);
}

/** Pushes account JWTs; each must be signed by one of `trustedIssuers` (a 200 from the server proves nothing). */
export async function pushAccounts(sys: NatsConnection, jwts: readonly string[], trustedIssuers: readonly string[]): Promise<void> {
  for (const jwt of jwts) {
    const c = claimsOf(jwt);
    // The server stores untrusted JWTs and says "jwt updated" anyway; check the issuer here.
    if (!trustedIssuers.includes(c.iss)) throw new NexError("NEX_E_INTERNAL", `account ${c.name ?? c.sub} is not signed by this operator`);
    await ask(sys, "$SYS.REQ.CLAIMS.UPDATE", jwt, `pushing account ${c.name ?? c.sub}`);
  }
}

/** Deletes accounts from the resolver; their clients are disconnected at once. */
export async function deleteAccounts(sys: NatsConnection, operatorSigner: FastKeyPair, accounts: readonly string[]): Promise<void> {
  const req = await encodeGeneric("delete", operatorSigner, "generic", { accounts: [...accounts] } as Record<string, unknown>);
  await ask(sys, "$SYS.REQ.CLAIMS.DELETE", req, `deleting ${accounts.join(", ")}`);
}
