/**
 * The control API: a NATS micro service named `nex-node`, so `$SRV.PING/INFO/STATS` discover every node.
 * Replies are JSON. Failures are micro errors (`Nats-Service-Error`, `Nats-Service-Error-Code`) with a JSON
 * `{code, message, hint}` body: a request is never met with silence, except broadcast verbs a node declines.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { Svcm, type Service, type ServiceMsg } from "@nats-io/services";
import {
  CONTROL_SERVICE_NAME,
  NexError,
  VERSION,
  headerValue,
  subjects,
  type ControlVerb,
} from "../contract/index.js";

/**
 * Returned by a handler that declines: a node that doesn't match stays silent on a broadcast subject, and answers
 * NEX_E_NODE_NOT_FOUND on its own.
 */
export const DECLINE = Symbol("decline");

/** A control handler: gets the namespace (from the subject), the raw body, and the server's `Nats-Request-Info`. */
export type ControlHandler = (ns: string, body: Uint8Array, requestInfo: string | undefined) => Promise<unknown>;

/** The node operations behind the control API. */
export type ControlHandlers = Record<"ping" | "info" | "auction" | "deploy" | "stop" | "list" | "lameduck" | "place", ControlHandler>;

const ROUTES: { name: string; verb: ControlVerb; targeted: boolean; handler: keyof ControlHandlers }[] = [
  { name: "ping", verb: "PING", targeted: false, handler: "ping" },
  { name: "ping-node", verb: "PING", targeted: true, handler: "ping" },
  { name: "info", verb: "INFO", targeted: true, handler: "info" },
  { name: "auction", verb: "AUCTION", targeted: false, handler: "auction" },
  { name: "deploy", verb: "DEPLOY", targeted: true, handler: "deploy" },
  { name: "stop", verb: "STOP", targeted: true, handler: "stop" },
  { name: "list", verb: "LIST", targeted: false, handler: "list" },
  { name: "list-node", verb: "LIST", targeted: true, handler: "list" },
  { name: "lameduck", verb: "LAMEDUCK", targeted: true, handler: "lameduck" },
  { name: "place", verb: "PLACE", targeted: true, handler: "place" },
];

/** Starts the control service for a node. */
export async function startControlService(
  nc: NatsConnection,
  node: { id: string; name: string },
  handlers: ControlHandlers,
): Promise<Service> {
  // @nats-io/services pins its own nats-core copy; the connection is the same object at run time.
  const srv = await new Svcm(nc as unknown as ConstructorParameters<typeof Svcm>[0]).add({
    name: CONTROL_SERVICE_NAME,
    version: VERSION,
    description: "nex-ts node control API",
    metadata: { node_id: node.id, node_name: node.name },
    // No queue group: broadcast verbs must reach every node, and targeted subjects are unique anyway.
    queue: "",
  });
  for (const r of ROUTES) {
    const subject = subjects.control("*", r.verb, r.targeted ? node.id : undefined);
    srv.addEndpoint(r.name, {
      subject,
      handler: (err, msg) => {
        if (err) return;
        void dispatch(msg, handlers[r.handler], !r.targeted);
      },
      metadata: { verb: r.verb, targeted: String(r.targeted) },
    });
  }
  return srv;
}

/** The header the server adds to every request that crossed an account boundary (it names the sender's account). */
const REQUEST_INFO = "Nats-Request-Info";

/** Longest error message sent back; the body also carries the code and hint. */
const MAX_ERROR_MESSAGE = 1024;

async function dispatch(msg: ServiceMsg, handler: ControlHandler, broadcast: boolean): Promise<void> {
  const parsed = subjects.parseControl(msg.subject);
  try {
    if (!parsed) throw new NexError("NEX_E_BAD_REQUEST", "not a control subject");
    const out = await handler(parsed.namespace, msg.data, msg.headers?.get(REQUEST_INFO) || undefined);
    if (out === DECLINE) {
      if (broadcast) return;
      // A request sent to this node alone is answered, so its sender never waits for a timeout.
      throw new NexError("NEX_E_NODE_NOT_FOUND", `node ${parsed.nodeId ?? ""} does not match the request`);
    }
    msg.respond(JSON.stringify(out ?? {}));
  } catch (err) {
    const e = NexError.from(err);
    // A broadcast that a node can't serve is answered by the nodes that can.
    if (broadcast && e.code === "NEX_E_NODE_NOT_FOUND") return;
    respondError(msg, e);
  }
}

/** Sends a coded error reply that can always be sent: sanitized headers, a bounded body; a failure is swallowed. */
function respondError(msg: ServiceMsg, e: NexError): void {
  const message = e.message.length > MAX_ERROR_MESSAGE ? `${e.message.slice(0, MAX_ERROR_MESSAGE)}…` : e.message;
  try {
    msg.respondError(e.status, headerValue(message), JSON.stringify({ code: e.code, message, hint: e.hint }));
  } catch {
    try {
      msg.respondError(500, "internal error", JSON.stringify(new NexError("NEX_E_INTERNAL", "the error reply could not be sent").toBody()));
    } catch {
      // The connection is gone; the requester's own timeout is all that is left.
    }
  }
}
