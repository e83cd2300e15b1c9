/**
 * Dead letters of durable triggers, as both the runner (when a function's last try fails) and the node (when a last
 * try never finished) write them: the original headers, plus what happened, plus a dedupe id that makes the two
 * writers of one message's dead letter write it once.
 */
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/nats-core";
import { Headers, headerValue } from "../contract/index.js";

/** The dead letter of one message: its headers, built in one place for the runner and the node. */
export function deadLetterHeaders(
  original: Iterable<[string, string[]]>,
  info: { subject: string; code: string; error: string; deliveries: number; messageId: string; stream: string; seq: number },
): MsgHdrs {
  const h = natsHeaders();
  for (const [k, vs] of original) {
    // Our own headers and the dedupe id are set below; the rest travel with the message.
    if (k === Headers.MsgId || k.startsWith("Nex-Dlq-")) continue;
    for (const v of vs) h.append(k, v);
  }
  h.set(Headers.MsgId, `dlq:${info.stream}:${info.seq}`);
  h.set(Headers.DlqSubject, info.subject);
  h.set(Headers.DlqCode, info.code);
  h.set(Headers.DlqError, headerValue(info.error, 1024));
  h.set(Headers.DlqDeliveries, String(info.deliveries));
  h.set(Headers.DlqMessageId, info.messageId);
  h.set(Headers.DlqTime, new Date().toISOString());
  return h;
}

/** The stable id of a trigger message: the publisher's, a replayed dead letter's, or its stream and sequence. */
export function messageIdOf(h: { get(k: string): string } | undefined, stream: string, seq: number): string {
  return h?.get(Headers.MessageId) || h?.get(Headers.MsgId) || `${stream}:${seq}`;
}

