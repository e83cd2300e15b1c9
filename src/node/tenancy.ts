/**
 * Tenancy: how a node keeps namespaces apart.
 *
 * - **accounts** (operator mode, the default of `nex up`): each namespace is a NATS account. The node connects to the
 *   `nex` account (the control plane) and holds each namespace's signing key; with it, it mints a user for every
 *   runner, function and native service, and for its own agent inside the namespace (artifacts, feeds, durable
 *   triggers). The server enforces the boundary; the node checks each control request's account as well.
 * - **shared** (a server without accounts): every namespace lives in one account, so only the node's own checks
 *   keep them apart. Without any authentication the node refuses to start unless told `--insecure`.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Permissions } from "@nats-io/jwt";
import { nuid } from "@nats-io/nats-core";
import type { NatsConnection } from "@nats-io/nats-core";
import { NexError, SYSTEM_NAMESPACE, isName, type WorkloadSpec } from "../contract/index.js";
import { claimsOf, userJwt } from "../auth/jwts.js";
import { agentPermissions, functionPermissions, runnerPermissions, servicePermissions, workloadInbox } from "../auth/permissions.js";
import { connectNats, workloadNatsUrl, type ConnectionConfig } from "../nats/connect.js";
import { credsText, decodeSeed, isPublicKey, keyPair, newKey, parseCredsText, type FastKeyPair } from "../nats/nkeys.js";
import type { WorkloadAccess } from "../runtimes/runtime.js";

/** One namespace's account and the signing key the node mints its users with. */
export interface NamespaceKey {
  namespace: string;
  account: string;
  signer: FastKeyPair;
}

/** Who sent a control request. */
export type Origin = { kind: "admin" } | { kind: "tenant"; namespace: string };

/** Reads a namespace key file: JSON `{account, signingKey}` (what `nex ns key` writes), or text with an `SA…` seed and an `A…` account key. */
export function readNamespaceKey(namespace: string, file: string): NamespaceKey {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new NexError("NEX_E_INVALID_FIELD", `--namespace-key ${namespace}: cannot read ${file}: ${(err as Error).message}`);
  }
  let seed: string | undefined;
  let account: string | undefined;
  try {
    const j = JSON.parse(text) as { account?: unknown; signingKey?: unknown };
    if (typeof j.signingKey === "string") seed = j.signingKey;
    if (typeof j.account === "string") account = j.account;
  } catch {
    for (const tok of text.split(/\s+/)) {
      if (/^SA[A-Z2-7]{56}$/.test(tok)) seed ??= tok;
      else if (isPublicKey(tok, "account")) account ??= tok;
    }
  }
  if (!seed) throw new NexError("NEX_E_INVALID_FIELD", `--namespace-key ${namespace}: ${file} holds no account signing key seed (SA…)`);
  if (decodeSeed(seed).role !== "account") throw new NexError("NEX_E_INVALID_FIELD", `--namespace-key ${namespace}: the seed is not an account key`);
  const signer = keyPair(seed);
  // A seed that is the account's own identity key needs no separate account line.
  account ??= signer.getPublicKey();
  if (!isPublicKey(account, "account")) throw new NexError("NEX_E_INVALID_FIELD", `--namespace-key ${namespace}: ${JSON.stringify(account)} is not an account public key`);
  return { namespace, account, signer };
}

/** Where a node finds namespace keys: a nex key directory (read again when a namespace is unknown), and explicit files. */
export class NamespaceKeys {
  private keys = new Map<string, NamespaceKey>();
  private lastScan = 0;

  constructor(
    private readonly accountsDir: string | undefined,
    files: Record<string, string> = {},
  ) {
    for (const [ns, file] of Object.entries(files)) this.keys.set(ns, readNamespaceKey(ns, file));
    this.scan();
  }

  private scan(): void {
    this.lastScan = Date.now();
    if (!this.accountsDir || !existsSync(this.accountsDir)) return;
    for (const f of readdirSync(this.accountsDir)) {
      if (!f.endsWith(".json")) continue;
      try {
        const rec = JSON.parse(readFileSync(join(this.accountsDir, f), "utf8")) as { name: string; kind: string; account: string; signingKey: string };
        if (rec.kind !== "namespace" || !isName(rec.name) || this.keys.has(rec.name)) continue;
        this.keys.set(rec.name, { namespace: rec.name, account: rec.account, signer: keyPair(rec.signingKey) });
      } catch {
        // a file being written or not ours: the next scan sees it
      }
    }
  }

  /** The key of `ns`; an unknown namespace triggers a rescan (at most once a second), so `nex ns create` is seen live. */
  get(ns: string): NamespaceKey | undefined {
    if (!this.keys.has(ns) && Date.now() - this.lastScan > 1_000) this.scan();
    return this.keys.get(ns);
  }

  /** The namespaces known so far. */
  names(): string[] {
    return [...this.keys.keys()].sort();
  }

  /** The namespace whose account is `account`. */
  byAccount(account: string): string | undefined {
    for (const k of this.keys.values()) if (k.account === account) return k.namespace;
    return undefined;
  }
}

/** What the node's tenancy needs to start. */
export interface TenancyOptions {
  nc: NatsConnection;
  connection: ConnectionConfig;
  nodeId: string;
  /** The nex key directory (`<home>/auth/accounts`), when the node shares a home with `nex up`. */
  accountsDir?: string;
  /** `--namespace-key NAME=FILE`. */
  namespaceKeyFiles?: Record<string, string>;
  /** Run on a server without any authentication. */
  insecure: boolean;
  /** Runs once for each namespace the node starts to work in (creates its feed stream, say). */
  prepare(ns: string, nc: NatsConnection): Promise<void>;
  log(line: string): void;
}

/** Parses the `Nats-Request-Info` header the server adds to cross-account requests. */
function requestAccount(info: string | undefined): string | undefined {
  if (!info) return undefined;
  try {
    const acc = (JSON.parse(info) as { acc?: unknown }).acc;
    return typeof acc === "string" ? acc : undefined;
  } catch {
    return undefined;
  }
}

/** The node's view of namespaces and identities. */
export class Tenancy implements WorkloadAccess {
  private readonly agents = new Map<string, Promise<NatsConnection>>();

  private constructor(
    readonly mode: "accounts" | "shared",
    private readonly o: TenancyOptions,
    private readonly keys: NamespaceKeys | undefined,
    /** The control plane's account (accounts mode). */
    readonly nexAccount: string | undefined,
  ) {}

  /** Works out the mode from the node's connection; refuses a server without authentication unless `insecure`. */
  static start(o: TenancyOptions): Tenancy {
    const info = o.nc.info;
    // Client certificates verified by the server (mutual TLS) authenticate as well as credentials do.
    const authenticated = info?.auth_required === true || info?.tls_verify === true;
    if (!authenticated && !o.insecure) {
      throw new NexError("NEX_E_INSECURE", `the NATS server at ${o.connection.servers.join(",")} requires no authentication: any client could run code as this node's user`);
    }
    const jwt = o.connection.userJwt?.jwt ?? (o.connection.credsFile ? parseCredsText(readFileSync(o.connection.credsFile, "utf8")).jwt : undefined);
    if (!authenticated || !jwt) {
      if (!authenticated) o.log("warning: --insecure: the NATS server has no authentication; every client may deploy code that runs as this node's user");
      else o.log("warning: the NATS server has no accounts (no JWT credentials): namespaces share one account, and only this node's checks keep them apart");
      return new Tenancy("shared", o, undefined, undefined);
    }
    const c = claimsOf(jwt);
    const nexAccount = c.nats?.issuer_account ?? c.iss;
    const keys = new NamespaceKeys(o.accountsDir, o.namespaceKeyFiles);
    return new Tenancy("accounts", o, keys, nexAccount);
  }

  /** True when this node can serve `ns` (in accounts mode: it holds the namespace's signing key). */
  knows(ns: string): boolean {
    if (ns === SYSTEM_NAMESPACE) return true;
    return this.mode === "shared" || this.keys?.get(ns) !== undefined;
  }

  /** Namespaces whose keys this node holds (accounts mode), for listings. */
  namespaces(): string[] | undefined {
    return this.keys?.names();
  }

  private key(ns: string): NamespaceKey {
    const k = this.keys?.get(ns);
    if (!k) throw new NexError("NEX_E_NO_NAMESPACE", `this node holds no key for namespace ${ns}`);
    return k;
  }

  /**
   * Who sent a control request for `ns`. The server guarantees that a namespace's request can only reach its own
   * subjects; the node checks it again, so a mistake in account configuration cannot widen anything.
   */
  origin(ns: string, requestInfo: string | undefined): Origin {
    if (this.mode === "shared") return { kind: "admin" };
    const acc = requestAccount(requestInfo);
    // The server adds the header to every request that crossed an import; none means it came from the nex account.
    if (acc === undefined || acc === this.nexAccount) return { kind: "admin" };
    const from = this.keys?.byAccount(acc) ?? (this.keys?.get(ns)?.account === acc ? ns : undefined);
    // A namespace this node holds no key for is one it does not serve (broadcasts stay silent).
    if (from === undefined) throw new NexError("NEX_E_NODE_NOT_FOUND", `this node does not serve the requester's namespace`);
    if (from !== ns) throw new NexError("NEX_E_FORBIDDEN", `a request from another account may not reach namespace ${ns}`);
    return { kind: "tenant", namespace: ns };
  }

  /** Mints a user of namespace `ns`. */
  private async mint(ns: string, name: string, perms: Permissions): Promise<{ jwt: string; seed: string }> {
    const k = this.key(ns);
    const user = newKey("user");
    const jwt = await userJwt(name, user.getPublicKey(), k.account, k.signer, perms);
    return { jwt, seed: user.seed };
  }

  private base(): ConnectionConfig {
    const c = this.o.connection;
    return { servers: c.servers, ...(c.tls ? { tls: c.tls } : {}) };
  }

  /** The node's own connection inside `ns` (the node's connection itself in shared mode), prepared once. */
  agent(ns: string): Promise<NatsConnection> {
    let p = this.agents.get(ns);
    if (!p) {
      p = this.openAgent(ns);
      p.catch(() => this.agents.delete(ns));
      this.agents.set(ns, p);
    }
    return p;
  }

  private async openAgent(ns: string): Promise<NatsConnection> {
    const own = this.mode === "accounts" && ns !== SYSTEM_NAMESPACE;
    const nc = own
      ? await connectNats({ ...this.base(), userJwt: await this.mint(ns, `nex-node-${this.o.nodeId.slice(0, 8)}-${ns}`, agentPermissions()) }, `nex-node-agent-${ns}`, true)
      : this.o.nc;
    try {
      await this.o.prepare(ns, nc);
    } catch (err) {
      this.o.log(`warning: could not prepare namespace ${ns}: ${(err as Error).message}`);
    }
    return nc;
  }

  async runner(ns: string): Promise<ConnectionConfig> {
    if (this.mode === "shared") return this.o.connection;
    const inboxPrefix = `_INBOX_runner-${nuid.next()}`;
    return { ...this.base(), userJwt: await this.mint(ns, `nex-runner-${ns}`, runnerPermissions(ns, inboxPrefix)), inboxPrefix };
  }

  async function(spec: WorkloadSpec): Promise<ConnectionConfig | undefined> {
    if (this.mode === "shared") return undefined;
    const perms = functionPermissions(spec.id, spec.triggers);
    return { ...this.base(), userJwt: await this.mint(spec.namespace, `fn-${spec.name}-${spec.id}`, perms), inboxPrefix: workloadInbox(spec.id) };
  }

  async service(spec: WorkloadSpec): Promise<{ url: string; creds?: string; connection: ConnectionConfig }> {
    const url = workloadNatsUrl(this.mode === "shared" ? this.o.connection : this.base());
    if (this.mode === "shared") {
      const creds = this.o.connection.credsFile ? readFileSync(this.o.connection.credsFile, "utf8") : undefined;
      return { url, creds, connection: this.o.connection };
    }
    const u = await this.mint(spec.namespace, `svc-${spec.name}-${spec.id}`, servicePermissions());
    return { url, creds: credsText(u.jwt, u.seed), connection: { ...this.base(), userJwt: u } };
  }

  /** Closes the agents. */
  async close(): Promise<void> {
    const all = [...this.agents.values()];
    this.agents.clear();
    await Promise.allSettled(
      all.map(async (p) => {
        const nc = await p;
        if (nc !== this.o.nc) await nc.drain();
      }),
    );
  }
}
