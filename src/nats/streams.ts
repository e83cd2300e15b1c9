/**
 * Creating the JetStream streams nex-ts relies on: safely when several nodes start at once, replicated on a cluster
 * (R3, or the cluster's size when smaller), and upgraded from R1 when a single server grew into a cluster.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import type { KV, KvEntry } from "@nats-io/kv";
import { JsCodes, isStreamNotFound, jsApiCode } from "./errors.js";

/** How many replicas control-plane streams get on this connection's server: up to 3 on a cluster, 1 otherwise. */
export function clusterReplicas(nc: NatsConnection): number {
  const info = nc.info;
  if (!info?.cluster) return 1;
  // connect_urls lists the cluster's client URLs (this server's included).
  const size = Math.max(1, info.connect_urls?.length ?? 1);
  return Math.min(3, size);
}

/** Retries a stream operation that a new account's first replicated stream can fail with (10049) on 2.9. */
export async function retryStoreCreation<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (jsApiCode(err) !== JsCodes.StoreCreation || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 100 * i));
    }
  }
}

/**
 * Raises a stream's replicas to `replicas` when it has fewer (an R1 stream made before the server was clustered).
 * Returns a warning to log when the server refuses.
 */
export async function upgradeReplicas(jsm: JetStreamManager, name: string, replicas: number): Promise<string | undefined> {
  const info = await jsm.streams.info(name);
  if (replicas <= 1 || info.config.num_replicas >= replicas) return undefined;
  try {
    await jsm.streams.update(name, { ...info.config, num_replicas: replicas });
    return undefined;
  } catch (err) {
    return `stream ${name} stays at ${info.config.num_replicas} replica(s): ${(err as Error).message}; raise it with \`nats stream edit ${name} --replicas ${replicas}\``;
  }
}

/** Creates a stream when it is missing (replicated on a cluster); an existing one keeps its config, gaining replicas. */
export async function ensureStream(nc: NatsConnection, cfg: Partial<StreamConfig> & { name: string }, log?: (line: string) => void): Promise<void> {
  const jsm = await jetstreamManager(nc, { timeout: 5_000 });
  const replicas = clusterReplicas(nc);
  try {
    await jsm.streams.info(cfg.name);
    const warning = await upgradeReplicas(jsm, cfg.name, replicas);
    if (warning) log?.(`warning: ${warning}`);
    return;
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
  }
  try {
    await retryStoreCreation(() => jsm.streams.add({ num_replicas: replicas, ...cfg }));
  } catch (err) {
    // Another node created it first.
    if (jsApiCode(err) !== JsCodes.StreamNameInUse) throw err;
  }
}

/** How often a restarting watch compares what it delivered with the stream (see `watchAll`). */
export const WATCH_CHECK_MS = 3_000;

/** What a watch started with `watchAll` hands back. */
export interface Watching {
  /** Resolves once every entry the bucket held at the start has been delivered. */
  loaded: Promise<void>;
  /** Resolves when the watch ends (stopped, or the bucket went away). */
  ended: Promise<void>;
  stop(): void;
}

/**
 * Watches every key of a bucket, first its current content, then changes. `loaded` tells when the content the bucket
 * held at the start has arrived: the last message of the stream is the last value of its own key, so it arrives too.
 *
 * With `restart`, a watch that ends or fails while the bucket exists starts again. A watch can also go quiet without
 * ending (its consumer was lost with a server, and the library has not noticed): every `checkMs` the stream's last
 * sequence is compared with the last revision delivered, and a watch that stayed behind across two checks starts again.
 */
export async function watchAll(kv: KV, onEntry: (e: KvEntry) => void, opts: { restart?: boolean; checkMs?: number } = {}): Promise<Watching> {
  const last = (await kv.status()).streamInfo.state.last_seq;
  let markLoaded!: () => void;
  const loaded = new Promise<void>((r) => (markLoaded = r));
  if (last === 0) markLoaded();
  let stopped = false;
  let seen = 0;
  let iter = await kv.watch({ key: ">" });
  // The revision delivered when the watch was last found behind the stream.
  let behindAt: number | undefined;
  const check = opts.restart && opts.checkMs
    ? setInterval(() => {
        void kv.status().then(
          (st) => {
            if (st.streamInfo.state.last_seq <= seen) return void (behindAt = undefined);
            // Behind once is normal (an entry on its way); behind again with nothing delivered between means stuck.
            if (behindAt !== seen) return void (behindAt = seen);
            behindAt = undefined;
            iter.stop();
          },
          () => undefined,
        );
      }, opts.checkMs)
    : undefined;
  check?.unref();
  const ended = (async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        for await (const e of iter) {
          seen = Math.max(seen, e.revision);
          onEntry(e);
          if (e.revision >= last) markLoaded();
        }
      } catch {
        // the watch failed: start it again below, unless told not to
      }
      markLoaded();
      if (stopped || !opts.restart) return;
      // A watch that ended while the bucket exists (a server went away under it) starts again: it replays the
      // current values first, and applying them again is harmless.
      await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** Math.min(attempt, 4))));
      try {
        await kv.status();
        iter = await kv.watch({ key: ">" });
        attempt = -1;
      } catch {
        // the bucket is unreachable or gone: try again after the next delay
      }
    }
  })();
  return {
    loaded,
    ended: ended.finally(() => clearInterval(check)).catch(() => undefined),
    stop: () => {
      stopped = true;
      clearInterval(check);
      iter.stop();
    },
  };
}
