/**
 * What the dashboard page connects to NATS with, and the token that guards it. With a nex home (what `nex up` made),
 * every page load gets a user of its own, minted from the namespace's signing key: read-only, on an inbox prefix of
 * its own, valid for a few hours. Given explicit credentials instead (`--creds`, `--nkey`, `--user`, `--token`),
 * the page gets those. Nothing is written anywhere but the home.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AuthHome, NEX_ACCOUNT, mintCreds, writeSecret } from "../auth/home.js";
import { dashboardPermissions } from "../auth/permissions.js";
import { NexError, isName } from "../contract/index.js";
import type { ConnectionConfig } from "../nats/connect.js";
import { parseCredsText } from "../nats/nkeys.js";
import type { PageAccess } from "./model.js";

/** How long a page's minted user stays valid; the page fetches a new one when its connection closes. */
export const PAGE_USER_TTL_MS = 12 * 3_600_000;

/** Where the page's credentials come from. */
export interface AccessOptions {
  namespace: string;
  /** Websocket URLs of NATS, as the browser reaches them. */
  wsServers: string[];
  /** The nex home, when it holds a deployment's keys. */
  home?: string;
  /** Credentials given on the command line; they win over the home's. */
  explicit?: Pick<ConnectionConfig, "credsFile" | "nkeySeedFile" | "user" | "password" | "token">;
}

function hasExplicit(e: AccessOptions["explicit"]): boolean {
  return e !== undefined && Boolean(e.credsFile || e.nkeySeedFile || e.user || e.token);
}

/**
 * Checks where the credentials come from (a missing namespace fails here, before anything listens) and returns a
 * function that produces one page's access.
 */
export function pageAccessSource(opts: AccessOptions): () => Promise<PageAccess> {
  const { namespace: ns, wsServers: servers } = opts;
  if (!isName(ns)) throw new NexError("NEX_E_INVALID_FIELD", `namespace: ${JSON.stringify(ns)} is not a name`);
  if (hasExplicit(opts.explicit)) {
    const e = opts.explicit!;
    return async () => {
      const out: PageAccess = { namespace: ns, servers };
      if (e.credsFile) Object.assign(out, parseCredsText(readFileSync(e.credsFile, "utf8")));
      if (e.nkeySeedFile) out.nkeySeed = readFileSync(e.nkeySeedFile, "utf8").trim();
      if (e.user) Object.assign(out, { user: e.user, pass: e.password ?? "" });
      if (e.token) out.token = e.token;
      return out;
    };
  }
  if (!opts.home || !AuthHome.exists(opts.home)) return async () => ({ namespace: ns, servers });
  const home = AuthHome.open(opts.home);
  const acct = home.account(ns);
  if (!acct || acct.kind !== "namespace") {
    const why = ns === NEX_ACCOUNT ? `${ns} is the control plane, not a namespace` : `no namespace ${ns} in ${opts.home}`;
    throw new NexError("NEX_E_NO_NAMESPACE", why, { hint: `Create it with \`nex ns create ${ns}\`, or list them with \`nex ns ls\`.` });
  }
  return async () => {
    const inboxPrefix = `_INBOX_ui-${randomBytes(8).toString("hex")}`;
    const expiresAt = new Date(Date.now() + PAGE_USER_TTL_MS);
    const creds = await mintCreds(acct, `${ns}-dashboard`, dashboardPermissions(ns, inboxPrefix), expiresAt);
    return { namespace: ns, servers, ...parseCredsText(creds), inboxPrefix, expiresAt: expiresAt.toISOString() };
  };
}

/**
 * The token a page must show to get credentials. With a nex home it is kept there (0600), so a page left open
 * survives a restart of `nex ui` or `nex up`; without one it is new for every run.
 */
export function dashboardToken(home: string | undefined): string {
  if (!home || !AuthHome.exists(home)) return randomBytes(24).toString("base64url");
  const path = join(AuthHome.open(home).dir, "dashboard.token");
  if (existsSync(path)) {
    const t = readFileSync(path, "utf8").trim();
    if (/^[A-Za-z0-9_-]{32,}$/.test(t)) return t;
  }
  const t = randomBytes(24).toString("base64url");
  writeSecret(path, `${t}\n`);
  return t;
}
