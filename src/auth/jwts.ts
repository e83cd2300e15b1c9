/**
 * The JWTs of a nex-ts deployment: the operator, the system account, the `nex` account (the control plane, which
 * exports the control API) and one account per namespace (which imports its own slice of the control API with an
 * activation token). Users are minted from an account's signing key with the permissions in `permissions.ts`.
 *
 * The server enforces what these say: a namespace account can reach `$NEX.SVC.<ns>.control.>` of the nex account
 * and nothing else of it; its subjects, streams, buckets and JetStream limits are its own.
 */
import { encodeAccount, encodeActivation, encodeOperator, encodeUser, type Permissions } from "@nats-io/jwt";
import { subjects } from "../contract/index.js";
import type { FastKeyPair } from "../nats/nkeys.js";

/** Account limits with nothing capped (jwt.js writes no defaults, and the server reads missing fields as 0). */
export const NO_LIMITS = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 } as const;

/** JetStream limits of a namespace account, in bytes and counts; -1 is unlimited. Replicas count: R3 uses 3×. */
export interface JetStreamLimits {
  memStorage: number;
  diskStorage: number;
  streams: number;
  consumers: number;
}

/** What a namespace gets when `nex ns create` is given no limits. */
export const DEFAULT_NAMESPACE_LIMITS: JetStreamLimits = {
  memStorage: 256 * 1024 * 1024,
  diskStorage: 4 * 1024 * 1024 * 1024,
  streams: 256,
  consumers: 4096,
};

/** The name of the control API export in the nex account. */
const CONTROL_EXPORT = "nex-control";

function jsLimits(l: JetStreamLimits): Record<string, number> {
  return { mem_storage: l.memStorage, disk_storage: l.diskStorage, streams: l.streams, consumer: l.consumers };
}

/** The operator JWT, self-signed; accounts are signed by `signingKey`. */
export function operatorJwt(name: string, operator: FastKeyPair, systemAccount: string, signingKey: string): Promise<string> {
  return encodeOperator(name, operator, { system_account: systemAccount, signing_keys: [signingKey] });
}

/** The system account. */
export function systemAccountJwt(sys: FastKeyPair, opSigner: FastKeyPair): Promise<string> {
  return encodeAccount("SYS", sys, { limits: { ...NO_LIMITS } }, { signer: opSigner });
}

/** The `nex` account: the control plane. It exports the control API of every namespace, each behind a token. */
export function nexAccountJwt(nex: FastKeyPair, opSigner: FastKeyPair, signingKey: string): Promise<string> {
  return encodeAccount(
    "nex",
    nex,
    {
      limits: { ...NO_LIMITS, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 },
      signing_keys: [signingKey],
      exports: [
        {
          name: CONTROL_EXPORT,
          subject: subjects.controlAll("*"),
          type: "service",
          token_req: true,
          // Broadcast verbs are answered by every node: all replies must reach the requester.
          response_type: "Stream",
        },
      ],
    },
    { signer: opSigner },
  );
}

/** The subject namespace `ns` may import from the nex account: its own control API. */
export function controlImportSubject(ns: string): string {
  return subjects.controlAll(ns);
}

/** The activation token that lets account `nsAccount` import namespace `ns`'s control API. */
export function controlActivation(ns: string, nsAccount: string, nex: FastKeyPair): Promise<string> {
  return encodeActivation(`${CONTROL_EXPORT}-${ns}`, nsAccount, nex, "service", { subject: controlImportSubject(ns) });
}

/** A namespace's account: its JetStream limits, its signing key, and the import of its own control API. */
export async function namespaceAccountJwt(
  ns: string,
  account: FastKeyPair,
  opSigner: FastKeyPair,
  nex: FastKeyPair,
  signingKey: string,
  limits: JetStreamLimits,
): Promise<string> {
  const token = await controlActivation(ns, account.getPublicKey(), nex);
  return encodeAccount(
    ns,
    account,
    {
      limits: { ...NO_LIMITS, ...jsLimits(limits) },
      signing_keys: [signingKey],
      imports: [{ name: CONTROL_EXPORT, subject: controlImportSubject(ns), account: nex.getPublicKey(), type: "service", token, share: true }],
    },
    { signer: opSigner },
  );
}

/** A user JWT of `account`, signed by one of its signing keys. */
export function userJwt(name: string, userPublicKey: string, account: string, signer: FastKeyPair, permissions: Permissions, expiresAt?: Date): Promise<string> {
  const exp = expiresAt ? Math.floor(expiresAt.getTime() / 1000) : undefined;
  return encodeUser(name, userPublicKey, account, { ...permissions, subs: -1, data: -1, payload: -1 }, { signer, ...(exp ? { exp } : {}) });
}

/** The claims of a JWT, without verifying its signature (the server does that). */
export function claimsOf(jwt: string): { sub: string; iss: string; name?: string; nats?: { issuer_account?: string; signing_keys?: unknown[] } } {
  const part = jwt.split(".")[1];
  if (!part) throw new Error("not a JWT");
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as ReturnType<typeof claimsOf>;
}
