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
export type ControlHandlers = Record<"ping" | "info" | "auction" | "deploy" | "stop" | "list" | "lameduck" | "place" | "inspect", ControlHandler>;

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
  { name: "inspect", verb: "INSPECT", targeted: true, handler: "inspect" },
];

/**
 * What an endpoint's asynchronous handling adds to the micro STATS. The library times and counts errors only for the
 * synchronous part of a handler (ours return at once and answer later), so each endpoint counts its own error
 * replies and processing time here, and `statsHandler` writes them into the endpoint's stats on every STATS request.
 */
interface EndpointCounts {
  errors: number;
  lastError?: string;
  processingNs: number;
}

/** The shape of the stats object the library keeps per endpoint (and hands to `statsHandler` with the endpoint). */
interface EndpointStatsFields {
  num_requests: number;
  num_errors: number;
  last_error?: string;
  processing_time: number;
  average_processing_time: number;
}

function isStatsFields(v: unknown): v is EndpointStatsFields {
  const s = v as Partial<EndpointStatsFields> | null;
  return s !== null && typeof s === "object" && typeof s.num_requests === "number" && typeof s.num_errors === "number";
}

/** Starts the control service for a node. */
export async function startControlService(
  nc: NatsConnection,
  node: { id: string; name: string },
  handlers: ControlHandlers,
): Promise<Service> {
  const counts = new Map<string, EndpointCounts>(ROUTES.map((r) => [r.name, { errors: 0, processingNs: 0 }]));
  // @nats-io/services pins its own nats-core copy; the connection is the same object at run time.
  const srv = await new Svcm(nc as unknown as ConstructorParameters<typeof Svcm>[0]).add({
    name: CONTROL_SERVICE_NAME,
    version: VERSION,
    description: "nex-ts node control API",
    metadata: { node_id: node.id, node_name: node.name },
    // No queue group: broadcast verbs must reach every node, and targeted subjects are unique anyway.
    queue: "",
    statsHandler: async (endpoint) => {
      const e = endpoint as { name?: string; stats?: unknown };
      const c = e.name === undefined ? undefined : counts.get(e.name);
      if (c && isStatsFields(e.stats)) {
        e.stats.num_errors = c.errors;
        e.stats.last_error = c.lastError;
        e.stats.processing_time = c.processingNs;
        e.stats.average_processing_time = e.stats.num_requests > 0 ? Math.round(c.processingNs / e.stats.num_requests) : 0;
      }
      return undefined;
    },
  });
  for (const r of ROUTES) {
    const subject = subjects.control("*", r.verb, r.targeted ? node.id : undefined);
    const c = counts.get(r.name)!;
    srv.addEndpoint(r.name, {
      subject,
      handler: (err, msg) => {
        if (err) return;
        const t0 = performance.now();
        void dispatch(msg, handlers[r.handler], !r.targeted).then((failure) => {
          c.processingNs += Math.round((performance.now() - t0) * 1e6);
          if (failure === undefined) return;
          c.errors++;
          c.lastError = `${failure.status}:${failure.message}`;
        });
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

/** Handles one request; resolves to the error it answered with, if it answered with one. */
async function dispatch(msg: ServiceMsg, handler: ControlHandler, broadcast: boolean): Promise<NexError | undefined> {
  const parsed = subjects.parseControl(msg.subject);
  try {
    if (!parsed) throw new NexError("NEX_E_BAD_REQUEST", "not a control subject");
    const out = await handler(parsed.namespace, msg.data, msg.headers?.get(REQUEST_INFO) || undefined);
    if (out === DECLINE) {
      if (broadcast) return undefined;
      // A request sent to this node alone is answered, so its sender never waits for a timeout.
      throw new NexError("NEX_E_NODE_NOT_FOUND", `node ${parsed.nodeId ?? ""} does not match the request`);
    }
    msg.respond(JSON.stringify(out ?? {}));
    return undefined;
  } catch (err) {
    const e = NexError.from(err);
    // A broadcast that a node can't serve is answered by the nodes that can.
    if (broadcast && e.code === "NEX_E_NODE_NOT_FOUND") return undefined;
    respondError(msg, e);
    return e;
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
