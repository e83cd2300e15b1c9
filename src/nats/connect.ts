/**
 * NATS connection options, the same for the node, the runners and the CLI.
 *
 * ```ts
 * const nc = await connectNats(resolveConnection({ server: "nats://127.0.0.1:4222" }), "nex-cli");
 * ```
 */
import { readFileSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { nkeyAuthenticator, type Authenticator, type ConnectionOptions, type NatsConnection } from "@nats-io/nats-core";
import { keyPair, parseCredsText } from "./nkeys.js";

/** Connection options as a user gives them (CLI flags or config). All optional. */
export interface ConnectionFlags {
  /** One URL or a comma-separated list; default `$NATS_URL`, else `nats://127.0.0.1:4222`. */
  server?: string;
  creds?: string;
  /** Path of a file holding an nkey seed (`SU…`). */
  nkey?: string;
  user?: string;
  password?: string;
  token?: string;
  tlscert?: string;
  tlskey?: string;
  tlsca?: string;
}

/** Resolved, serializable connection settings (safe to hand to a runner process). */
export interface ConnectionConfig {
  servers: string[];
  credsFile?: string;
  nkeySeedFile?: string;
  user?: string;
  password?: string;
  token?: string;
  tls?: { certFile?: string; keyFile?: string; caFile?: string };
  /** A user JWT and its seed, held in memory (what a node hands a workload; never written to a command line). */
  userJwt?: { jwt: string; seed: string };
  /** Inbox prefix of the connection (a workload's own, so nobody else can subscribe to its replies). */
  inboxPrefix?: string;
}

/** The URL used when neither a flag nor `NATS_URL` names a server. */
const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";

/** Compiles user flags (and the environment) into a ConnectionConfig. */
export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): ConnectionConfig {
  const raw = flags.server ?? env["NATS_URL"] ?? DEFAULT_NATS_URL;
  const servers = raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  const cfg: ConnectionConfig = { servers: servers.length > 0 ? servers : [DEFAULT_NATS_URL] };
  if (flags.creds) cfg.credsFile = flags.creds;
  if (flags.nkey) cfg.nkeySeedFile = flags.nkey;
  if (flags.user) cfg.user = flags.user;
  if (flags.password) cfg.password = flags.password;
  if (flags.token) cfg.token = flags.token;
  if (flags.tlscert || flags.tlskey || flags.tlsca) {
    cfg.tls = { certFile: flags.tlscert, keyFile: flags.tlskey, caFile: flags.tlsca };
  }
  return cfg;
}

/**
 * Signs the server's nonce with node:crypto: nats.js's own creds authenticator signs in pure JS (~10 ms a connect),
 * which a node that connects a workload per deploy cannot afford.
 */
function jwtAuthenticator(jwt: string, seed: string): Authenticator {
  const kp = keyPair(seed);
  const nkey = kp.getPublicKey();
  return (nonce?: string) => ({ jwt, nkey, sig: Buffer.from(kp.sign(new TextEncoder().encode(nonce ?? ""))).toString("base64url") });
}

function authenticators(cfg: ConnectionConfig): Authenticator[] {
  const out: Authenticator[] = [];
  if (cfg.userJwt) out.push(jwtAuthenticator(cfg.userJwt.jwt, cfg.userJwt.seed));
  if (cfg.credsFile) {
    const { jwt, seed } = parseCredsText(readFileSync(cfg.credsFile, "utf8"));
    out.push(jwtAuthenticator(jwt, seed));
  }
  if (cfg.nkeySeedFile) out.push(nkeyAuthenticator(new TextEncoder().encode(readFileSync(cfg.nkeySeedFile, "utf8").trim())));
  return out;
}

/** NATS client options for a ConnectionConfig. Long-lived processes reconnect forever. */
function natsOptions(cfg: ConnectionConfig, name: string, longLived: boolean): ConnectionOptions {
  const opts: ConnectionOptions = {
    servers: cfg.servers,
    name,
    user: cfg.user,
    pass: cfg.password,
    token: cfg.token,
    noAsyncTraces: true,
    maxReconnectAttempts: longLived ? -1 : 10,
    reconnectTimeWait: longLived ? 500 : 250,
    waitOnFirstConnect: false,
  };
  const auth = authenticators(cfg);
  if (auth.length > 0) opts.authenticator = auth;
  if (cfg.tls) opts.tls = { ...cfg.tls };
  if (cfg.inboxPrefix) opts.inboxPrefix = cfg.inboxPrefix;
  return opts;
}

/** Connects with the given settings. */
export async function connectNats(cfg: ConnectionConfig, name: string, longLived = false): Promise<NatsConnection> {
  return connect(natsOptions(cfg, name, longLived));
}

/**
 * A URL a workload can use to reach NATS from the node's host, with the node's user/password or token in it.
 * Credentials files are passed separately (see the native runtime).
 */
export function workloadNatsUrl(cfg: ConnectionConfig): string {
  const first = cfg.servers[0] ?? DEFAULT_NATS_URL;
  const url = new URL(first.includes("://") ? first : `nats://${first}`);
  if (cfg.user) {
    url.username = encodeURIComponent(cfg.user);
    url.password = encodeURIComponent(cfg.password ?? "");
  } else if (cfg.token) {
    url.username = encodeURIComponent(cfg.token);
  }
  return url.toString().replace(/\/$/, "");
}
