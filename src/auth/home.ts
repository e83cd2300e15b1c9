/**
 * NEX_HOME's keys and credentials for an operator-mode deployment made by nex itself (`nex up`): the operator, the
 * system account, the `nex` control-plane account and one account per namespace, each with a signing key, plus an
 * admin credentials file per account. Every secret file is 0600 in a 0700 directory.
 *
 * ```
 * <home>/auth/operator.json          operator identity and signing key, its JWT
 * <home>/auth/system.json            the system account, and the user that pushes account JWTs
 * <home>/auth/accounts/<name>.json   an account: identity, signing key, limits, JWT ("nex" is the control plane)
 * <home>/auth/creds/<name>.creds     an admin user of that account (what the CLI uses)
 * <home>/auth/dashboard.token        what a dashboard page shows `nex ui` to get credentials (see src/ui/access.ts)
 * ```
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NexError, isName } from "../contract/index.js";
import { credsText, keyPair, newKey, type FastKeyPair } from "../nats/nkeys.js";
import {
  DEFAULT_NAMESPACE_LIMITS,
  namespaceAccountJwt,
  nexAccountJwt,
  operatorJwt,
  systemAccountJwt,
  userJwt,
  type JetStreamLimits,
} from "./jwts.js";
import { tenantPermissions } from "./permissions.js";
import type { Permissions } from "@nats-io/jwt";

/** The name of the control plane's account. */
export const NEX_ACCOUNT = "nex";

/** One account as stored. */
export interface AccountRecord {
  name: string;
  kind: "control" | "namespace";
  /** The account's public key (`A…`). */
  account: string;
  seed: string;
  /** Seed of the signing key users are minted with. */
  signingKey: string;
  limits?: JetStreamLimits;
  jwt: string;
}

interface OperatorRecord {
  name: string;
  seed: string;
  signingKey: string;
  jwt: string;
}

interface SystemRecord {
  account: string;
  seed: string;
  jwt: string;
  /** Credentials of the system user that pushes account JWTs to the resolver. */
  creds: string;
}

/** Writes a secret file atomically, mode 0600. */
export function writeSecret(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

function secretDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chmodSync(path, 0o700);
}

/** Mints a user of `acct` with `perms` (valid until `expiresAt`, when given); returns creds text. */
export async function mintCreds(acct: Pick<AccountRecord, "account" | "signingKey">, name: string, perms: Permissions, expiresAt?: Date): Promise<string> {
  const user = newKey("user");
  const jwt = await userJwt(name, user.getPublicKey(), acct.account, keyPair(acct.signingKey), perms, expiresAt);
  return credsText(jwt, user.seed);
}

/** The keys and credentials of a nex-made operator-mode deployment. */
export class AuthHome {
  private constructor(readonly dir: string) {}

  /** True when `home` holds a deployment's keys. */
  static exists(home: string): boolean {
    return existsSync(join(home, "auth", "operator.json"));
  }

  /** Opens the keys in `home`, or throws when there are none. */
  static open(home: string): AuthHome {
    if (!AuthHome.exists(home)) throw new NexError("NEX_E_NOT_FOUND", `no nex keys in ${home}`, { hint: "Run `nex up` once to create them." });
    return new AuthHome(join(home, "auth"));
  }

  /** Opens the keys in `home`, creating the operator, system, nex and default accounts when they are missing. */
  static async init(home: string, namespaces: readonly string[] = ["default"]): Promise<AuthHome> {
    const dir = join(home, "auth");
    secretDir(dir);
    secretDir(join(dir, "accounts"));
    secretDir(join(dir, "creds"));
    const h = new AuthHome(dir);
    if (!existsSync(h.path("operator.json"))) await h.create();
    for (const ns of namespaces) if (!h.account(ns)) await h.createNamespace(ns);
    return h;
  }

  private path(...p: string[]): string {
    return join(this.dir, ...p);
  }

  private async create(): Promise<void> {
    const op = newKey("operator");
    const opSk = newKey("operator");
    const sys = newKey("account");
    const sysUser = newKey("user");
    const sysJwt = await systemAccountJwt(sys, opSk);
    const sysUserJwt = await userJwt("sys", sysUser.getPublicKey(), sys.getPublicKey(), sys, {});
    const opJwt = await operatorJwt("nex", op, sys.getPublicKey(), opSk.getPublicKey());
    writeSecret(this.path("operator.json"), JSON.stringify({ name: "nex", seed: op.seed, signingKey: opSk.seed, jwt: opJwt } satisfies OperatorRecord, null, 2));
    writeSecret(
      this.path("system.json"),
      JSON.stringify({ account: sys.getPublicKey(), seed: sys.seed, jwt: sysJwt, creds: credsText(sysUserJwt, sysUser.seed) } satisfies SystemRecord, null, 2),
    );
    const nex = newKey("account");
    const nexSk = newKey("account");
    const nexJwt = await nexAccountJwt(nex, opSk, nexSk.getPublicKey());
    this.saveAccount({ name: NEX_ACCOUNT, kind: "control", account: nex.getPublicKey(), seed: nex.seed, signingKey: nexSk.seed, jwt: nexJwt });
    writeSecret(this.credsPath(NEX_ACCOUNT), await mintCreds({ account: nex.getPublicKey(), signingKey: nexSk.seed }, "nex-admin", {}));
  }

  private saveAccount(a: AccountRecord): void {
    writeSecret(this.path("accounts", `${a.name}.json`), JSON.stringify(a, null, 2));
  }

  private operator(): OperatorRecord {
    return readJson<OperatorRecord>(this.path("operator.json"));
  }

  private system(): SystemRecord {
    return readJson<SystemRecord>(this.path("system.json"));
  }

  /** The operator's signing key (signs account JWTs and deletions). */
  operatorSigner(): FastKeyPair {
    return keyPair(this.operator().signingKey);
  }

  /** The system account's public key. */
  get systemAccount(): string {
    return this.system().account;
  }

  /** Credentials of the system user that may push account JWTs. */
  systemCreds(): string {
    return this.system().creds;
  }

  /** One account, or undefined. */
  account(name: string): AccountRecord | undefined {
    const p = this.path("accounts", `${name}.json`);
    return isName(name) && existsSync(p) ? readJson<AccountRecord>(p) : undefined;
  }

  /** The namespaces (accounts other than the control plane), sorted. */
  namespaces(): AccountRecord[] {
    const dir = this.path("accounts");
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .map((f) => readJson<AccountRecord>(join(dir, f)))
      .filter((a) => a.kind === "namespace")
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Every account JWT the server must know: system, nex and each namespace. */
  accountJwts(): string[] {
    const nex = this.account(NEX_ACCOUNT);
    return [this.system().jwt, ...(nex ? [nex.jwt] : []), ...this.namespaces().map((a) => a.jwt)];
  }

  /** Path of the admin credentials of an account (`nex` or a namespace). */
  credsPath(name: string): string {
    return this.path("creds", `${name}.creds`);
  }

  /** Creates a namespace's account and its admin credentials. Push the returned record's JWT to the resolver. */
  async createNamespace(name: string, limits: JetStreamLimits = DEFAULT_NAMESPACE_LIMITS): Promise<AccountRecord> {
    if (!isName(name) || name === NEX_ACCOUNT || name === "system") {
      throw new NexError("NEX_E_INVALID_FIELD", `namespace: ${JSON.stringify(name)} is reserved or not a name (letters, digits, '_' and '-')`);
    }
    if (this.account(name)) throw new NexError("NEX_E_CONFLICT", `namespace ${name} already exists`);
    const nex = this.account(NEX_ACCOUNT);
    if (!nex) throw new NexError("NEX_E_INTERNAL", "the nex account is missing from the keys");
    const acct = newKey("account");
    const sk = newKey("account");
    const jwt = await namespaceAccountJwt(name, acct, this.operatorSigner(), keyPair(nex.seed), sk.getPublicKey(), limits);
    const rec: AccountRecord = { name, kind: "namespace", account: acct.getPublicKey(), seed: acct.seed, signingKey: sk.seed, limits, jwt };
    this.saveAccount(rec);
    writeSecret(this.credsPath(name), await mintCreds(rec, `${name}-admin`, tenantPermissions()));
    return rec;
  }

  /** Forgets a namespace's keys and credentials. Delete its account from the resolver first. */
  removeNamespace(name: string): void {
    const a = this.account(name);
    if (!a || a.kind !== "namespace") throw new NexError("NEX_E_NOT_FOUND", `no namespace ${name}`);
    rmSync(this.path("accounts", `${name}.json`), { force: true });
    rmSync(this.credsPath(name), { force: true });
  }

  /** The lines of a nats-server config that put it in operator mode with a full resolver in `resolverDir`. */
  serverConfig(resolverDir: string): string {
    const op = this.operator();
    const opJwtPath = this.path("operator.jwt");
    writeSecret(opJwtPath, op.jwt);
    const nex = this.account(NEX_ACCOUNT);
    const sys = this.system();
    return [
      `operator: "${opJwtPath}"`,
      `system_account: ${sys.account}`,
      // timeout: a connect for an unknown account fails in 250 ms instead of the default ~2 s.
      `resolver: { type: full, dir: "${resolverDir}", allow_delete: true, interval: "2m", timeout: "250ms" }`,
      `resolver_preload: {`,
      `  ${sys.account}: "${sys.jwt}"`,
      ...(nex ? [`  ${nex.account}: "${nex.jwt}"`] : []),
      `}`,
    ].join("\n");
  }
}
