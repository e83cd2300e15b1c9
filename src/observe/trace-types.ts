/**
 * The seam between the runner and tracing. The runner holds an `InvocationTracer` only when the node gives it an
 * OTLP endpoint; the implementation (`tracing.ts`, with the OpenTelemetry SDK) is then loaded, and otherwise never.
 * This file has types only, so importing it loads nothing.
 */
import type { ErrorCode, WorkloadSpec } from "../contract/index.js";
import type { HostServices } from "../hostservices/index.js";

/** The span of one invocation. */
export interface InvocationSpan {
  /** The W3C `traceparent` of this span: host-service calls made under it become its children. */
  readonly traceparent: string;
  /** Ends the span: a success, or a failure with its code. */
  end(failure?: { code: ErrorCode; message: string }): void;
}

/** Starts invocation spans and wraps host services so their calls are child spans. */
export interface InvocationTracer {
  /** A span for one invocation: a child of the message's `traceparent` header when it has one, else a new trace. */
  start(spec: WorkloadSpec, subject: string, traceparent: string | undefined, tracestate: string | undefined, hasReply: boolean): InvocationSpan;
  /** `base`, with every call a child span of `traceparent` (and outgoing requests carrying their own). */
  services(base: HostServices, traceparent: string): HostServices;
  /** Sends what is buffered and stops exporting. */
  shutdown(): Promise<void>;
}
