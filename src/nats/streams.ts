/** Creating the JetStream streams nex-ts relies on, safely when several nodes start at once. */
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager, type StreamConfig } from "@nats-io/jetstream";
import { JsCodes, isStreamNotFound, jsApiCode } from "./errors.js";

/** Creates a stream when it is missing; an existing one is left as it is, and losing a creation race is fine. */
export async function ensureStream(nc: NatsConnection, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  const jsm = await jetstreamManager(nc, { timeout: 5_000 });
  try {
    await jsm.streams.info(cfg.name);
    return;
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
  }
  try {
    await jsm.streams.add(cfg);
  } catch (err) {
    // Another node created it first.
    if (jsApiCode(err) !== JsCodes.StreamNameInUse) throw err;
  }
}
