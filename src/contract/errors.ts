/**
 * The one table of nex-ts error codes. Codes are stable: a retired code is never reused.
 * The same code travels in control API error replies (micro `Nats-Service-Error*` headers plus a JSON body),
 * in function error replies (`Nex-Error-Code` header), and is what the CLI prints.
 *
 * ```ts
 * throw new NexError("NEX_E_NOT_FOUND", `no workload "echo"`);
 * ```
 */

/** One entry of the error table. */
export interface ErrorSpec {
  /** HTTP-like status carried in `Nats-Service-Error-Code`. */
  readonly status: number;
  /** What went wrong, in general terms. */
  readonly message: string;
  /** What the user can do about it. */
  readonly hint: string;
}

/** Every error code nex-ts can return. */
export const ERRORS = {
  NEX_E_BAD_REQUEST: { status: 400, message: "The request is not valid JSON or not an object", hint: "Send a JSON object body; see the control API in the README." },
  NEX_E_INVALID_FIELD: { status: 400, message: "A field of the request is missing or invalid", hint: "Check the field named in the message." },
  NEX_E_UNKNOWN_TYPE: { status: 400, message: "Unknown workload type", hint: "Use one of: v8, wasm, native." },
  NEX_E_UNSUPPORTED_TYPE: { status: 409, message: "This node does not run that workload type", hint: "Deploy without --node to let placement pick a node that does." },
  NEX_E_FORBIDDEN_SUBJECT: { status: 400, message: "The trigger subject is reserved or malformed", hint: "Triggers may not live under $SYS, $JS, $NEX, $SRV, $KV, $O or _INBOX, nor start with a wildcard." },
  NEX_E_BAD_LOCATION: { status: 400, message: "The artifact location is not a supported URL", hint: "Use nats://BUCKET/KEY, file:///absolute/path or http(s)://..." },
  NEX_E_ARTIFACT_FETCH: { status: 502, message: "The artifact could not be fetched", hint: "Check that the location exists and is reachable from the node." },
  NEX_E_ARTIFACT_TOO_LARGE: { status: 413, message: "The artifact is larger than the node allows", hint: "Shrink the artifact or raise --max-artifact-mib on the node." },
  NEX_E_HASH_MISMATCH: { status: 409, message: "The artifact's sha256 does not match the deploy request", hint: "Re-upload the artifact, or send the hash of the file you meant to deploy." },
  NEX_E_BAD_ARTIFACT: { status: 422, message: "The artifact is not a valid workload of its type", hint: "Check the message: it names what the runtime refused." },
  NEX_E_NOT_FOUND: { status: 404, message: "No such workload", hint: "List workloads with `nex ls`." },
  NEX_E_NODE_NOT_FOUND: { status: 404, message: "No such node", hint: "List nodes with `nex node ls`." },
  NEX_E_NO_NODES: { status: 503, message: "No node can take this workload", hint: "Start a node (`nex node up`), or relax --tags / --type." },
  NEX_E_LAMEDUCK: { status: 503, message: "The node is in lame duck mode and takes no new work", hint: "Deploy to another node, or omit --node." },
  NEX_E_LIMIT: { status: 429, message: "A limit of the node was reached, or the request asks for more than the node allows", hint: "The message names the limit: deploy elsewhere, ask for less, or raise it on the node (--max-workloads, --max-memory-mib, --max-timeout-ms, --max-processes, --max-cpus)." },
  NEX_E_UNSUPPORTED_LIMIT: { status: 409, message: "The node cannot enforce a limit the request asks for", hint: "Deploy without that limit, or without --node so that placement picks a node that can enforce it (`nex node info` shows cpuLimits)." },
  NEX_E_DEPLOY_FAILED: { status: 500, message: "The workload could not be started", hint: "See the message and `nex events` for details." },
  NEX_E_RUNNER_UNAVAILABLE: { status: 503, message: "The function runner is restarting", hint: "Retry in a moment; `nex events` shows why it restarted." },
  NEX_E_FUNCTION_ERROR: { status: 500, message: "The function threw an exception", hint: "See the message, and `nex logs NAME` for its console output." },
  NEX_E_FUNCTION_TIMEOUT: { status: 504, message: "The function ran past its timeout and was stopped", hint: "Make it faster, or deploy with a larger --timeout-ms." },
  NEX_E_FUNCTION_MEMORY: { status: 507, message: "The function exceeded its memory limit and was stopped", hint: "Use less memory, or deploy with a larger --memory-mib." },
  NEX_E_FUNCTION_EXIT: { status: 500, message: "The module exited with a non-zero code or trapped", hint: "See the exit code and the stderr tail in the message." },
  NEX_E_HOST_SERVICE: { status: 502, message: "A host service call failed", hint: "See the message for the service and the cause." },
  NEX_E_TIMEOUT: { status: 504, message: "The operation timed out", hint: "Retry, or raise --timeout." },
  NEX_E_FORBIDDEN: { status: 403, message: "The requester may not do this", hint: "Namespace credentials reach their own namespace only; node-wide operations need the nex account's credentials." },
  NEX_E_CONFLICT: { status: 409, message: "It already exists", hint: "Pick another name, or delete the existing one first." },
  NEX_E_NO_NAMESPACE: { status: 404, message: "No such namespace", hint: "Create it with `nex ns create NAME`, or list them with `nex ns ls`." },
  NEX_E_INSECURE: { status: 412, message: "The NATS server has no authentication", hint: "Run nats-server in operator mode (`nex up` does), or start the node with --insecure if you accept that any client may run code as the node's user." },
  NEX_E_INTERNAL: { status: 500, message: "Internal error", hint: "This is a bug in nex-ts; the node log has details." },
} as const satisfies Record<string, ErrorSpec>;

/** A stable nex-ts error code. */
export type ErrorCode = keyof typeof ERRORS;

/** The JSON body of every error reply. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  hint: string;
}

/** True when `s` names an error code in the table. */
export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === "string" && Object.prototype.hasOwnProperty.call(ERRORS, s);
}

/** An error with a stable code; what the control API and the CLI speak. */
export class NexError extends Error {
  override readonly name = "NexError";
  readonly code: ErrorCode;
  readonly hint: string;
  readonly status: number;
  /** A finer, machine-readable reason within the code (e.g. a host service's `not_found`), when there is one. */
  readonly reason: string | undefined;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown; hint?: string; reason?: string }) {
    const spec = ERRORS[code];
    super(message ?? spec.message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options?.hint ?? spec.hint;
    this.status = spec.status;
    this.reason = options?.reason;
  }

  /** The JSON body sent on the wire. */
  toBody(): ErrorBody {
    return { code: this.code, message: this.message, hint: this.hint };
  }

  /** Rebuilds an error from a wire body; unknown codes become NEX_E_INTERNAL so nothing is lost. */
  static fromBody(body: unknown, fallback = "unexpected error reply"): NexError {
    if (body !== null && typeof body === "object") {
      const b = body as Partial<ErrorBody>;
      const code = isErrorCode(b.code) ? b.code : "NEX_E_INTERNAL";
      return new NexError(code, typeof b.message === "string" ? b.message : fallback, {
        hint: typeof b.hint === "string" ? b.hint : undefined,
      });
    }
    return new NexError("NEX_E_INTERNAL", fallback);
  }

  /** Wraps anything thrown into a NexError, keeping a NexError as it is. */
  static from(err: unknown, code: ErrorCode = "NEX_E_INTERNAL"): NexError {
    if (err instanceof NexError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new NexError(code, message, { cause: err });
  }
}

/** Header names used on function replies and error replies. */
export const Headers = {
  /** Set by NATS micro on an error reply: the human message. */
  ServiceError: "Nats-Service-Error",
  /** Set by NATS micro on an error reply: the numeric status. */
  ServiceErrorCode: "Nats-Service-Error-Code",
  /** The nex error code of a failed invocation. */
  NexErrorCode: "Nex-Error-Code",
  /** Set by a publisher: a message's id, for JetStream's duplicate window and a durable function's `ctx.messageId`. */
  MsgId: "Nats-Msg-Id",
  /** A replayed dead letter keeps the id it had, so a function that deduplicates sees the same message. */
  MessageId: "Nex-Message-Id",
  /** On a dead letter: the subject it was published to. */
  DlqSubject: "Nex-Dlq-Subject",
  /** On a dead letter: the code and message of the last failure. */
  DlqCode: "Nex-Dlq-Code",
  DlqError: "Nex-Dlq-Error",
  /** On a dead letter: how many times it was delivered. */
  DlqDeliveries: "Nex-Dlq-Deliveries",
  /** On a dead letter: the message's id (see MessageId). */
  DlqMessageId: "Nex-Dlq-Message-Id",
  /** On a dead letter: when it was given up (ISO time). */
  DlqTime: "Nex-Dlq-Time",
} as const;

/**
 * Makes a string safe as a header value: bounded, and control characters (a CR or LF would break the protocol), format
 * characters (bidirectional overrides), line separators and lone surrogates (a cut pair) become spaces.
 */
export function headerValue(s: string, max = 256): string {
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return cut.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]+/gu, " ");
}
