/**
 * Invocation traces with the OpenTelemetry SDK, exported over OTLP/HTTP (JSON). Loaded by a runner only when the node
 * has an OTLP endpoint, so a node without one never loads the SDK and its hot path never creates a span.
 *
 * An invocation continues the W3C `traceparent` of the message that triggered it (or starts a trace); each host-service
 * call under it is a child span, and outgoing NATS messages and HTTP requests carry the `traceparent` of their own span.
 *
 * ```ts
 * const tracer = createTracer({ endpoint: "http://127.0.0.1:4318/v1/traces", nodeId, namespace: "default", kind: "v8" });
 * const span = tracer.start(spec, "echo", incomingTraceparent, undefined, true);
 * const hs = tracer.services(baseServices, span.traceparent);   // calls are children of the invocation
 * span.end();
 * ```
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, type Attributes, type Context, type Span, type Tracer } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NexError, VERSION, type WorkloadSpec } from "../contract/index.js";
import type { HostServices, HttpRequest, HttpResponse, ObjectInfoLite } from "../hostservices/index.js";
import type { InvocationSpan, InvocationTracer } from "./trace-types.js";

/** Where and as whom a runner exports. */
export interface TracerOptions {
  /** The OTLP/HTTP traces URL. */
  endpoint: string;
  nodeId: string;
  namespace: string;
  /** The runner's engine (v8, wasm). */
  kind: string;
  /** How long spans wait to be sent in a batch; default 1 s. */
  exportDelayMs?: number;
}

const propagator = new W3CTraceContextPropagator();

const getter = {
  get: (c: Record<string, string>, k: string): string | undefined => c[k],
  keys: (c: Record<string, string>): string[] => Object.keys(c),
};

/** The context a `traceparent` (and `tracestate`) names, or the root context when it is not a valid one. */
function contextOf(traceparent: string | undefined, tracestate?: string): Context {
  if (!traceparent) return ROOT_CONTEXT;
  const carrier: Record<string, string> = { traceparent };
  if (tracestate) carrier["tracestate"] = tracestate;
  return propagator.extract(ROOT_CONTEXT, carrier, getter);
}

/** The W3C `traceparent` of a span. */
function traceparentOf(span: Span): string {
  const c = span.spanContext();
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

/** Marks a span failed with a nex error code (or the thrown message). */
function failSpan(span: Span, err: unknown): void {
  const e = err instanceof NexError ? err : NexError.from(err);
  span.setAttribute("error.type", e.reason ? `${e.code}:${e.reason}` : e.code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
}

/** Creates the tracer of one runner process. */
export function createTracer(o: TracerOptions): InvocationTracer {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      "service.name": "nex",
      "service.version": VERSION,
      "service.instance.id": `${o.nodeId}/${o.kind}/${o.namespace}`,
      "nex.node.id": o.nodeId,
      "nex.namespace": o.namespace,
      "nex.runner.type": o.kind,
    }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: o.endpoint }), { scheduledDelayMillis: o.exportDelayMs ?? 1_000 })],
  });
  const tracer = provider.getTracer("nex-ts", VERSION);
  return {
    start(spec, subject, traceparent, tracestate, hasReply): InvocationSpan {
      const span = tracer.startSpan(
        `invoke ${spec.name}`,
        { kind: hasReply ? SpanKind.SERVER : SpanKind.CONSUMER, attributes: invocationAttributes(spec, subject) },
        contextOf(traceparent, tracestate),
      );
      return {
        traceparent: traceparentOf(span),
        end(failure) {
          if (failure) failSpan(span, failure);
          span.end();
        },
      };
    },
    services: (base, traceparent) => new TracedHostServices(base, tracer, contextOf(traceparent)),
    async shutdown() {
      await provider.shutdown();
    },
  };
}

function invocationAttributes(spec: WorkloadSpec, subject: string): Attributes {
  return {
    "faas.name": spec.name,
    "faas.trigger": "pubsub",
    "messaging.system": "nats",
    "messaging.destination.name": subject,
    "nex.namespace": spec.namespace,
    "nex.workload.id": spec.id,
    "nex.workload.type": spec.type,
  };
}

/** Where an HTTP call goes, without its query or credentials (either may hold a secret). */
function urlAttributes(url: string): Attributes {
  try {
    const u = new URL(url);
    return { "url.scheme": u.protocol.replace(/:$/, ""), "server.address": u.hostname, "server.port": Number(u.port) || (u.protocol === "https:" ? 443 : 80), "url.path": u.pathname };
  } catch {
    return {};
  }
}

/** Host services whose every call is a client span under one invocation's span. */
class TracedHostServices implements HostServices {
  constructor(
    private readonly inner: HostServices,
    private readonly tracer: Tracer,
    private readonly parent: Context,
  ) {}

  /** Runs `fn` in a span; `fn` gets the headers that carry the span's `traceparent` to whatever it calls. */
  private async span<T>(name: string, attributes: Attributes, fn: (headers: Record<string, string>) => Promise<T>, after?: (s: Span, r: T) => void): Promise<T> {
    const s = this.tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, this.parent);
    try {
      const r = await fn({ traceparent: traceparentOf(s) });
      after?.(s, r);
      return r;
    } catch (err) {
      failSpan(s, err);
      throw err;
    } finally {
      s.end();
    }
  }

  private kv<T>(op: string, bucket: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    const attributes: Attributes = { "nex.host.op": op, "nex.kv.bucket": bucket };
    if (key !== undefined) attributes["nex.kv.key"] = key;
    return this.span(`${op} ${bucket}`, attributes, fn);
  }

  private obj<T>(op: string, bucket: string, name: string | undefined, fn: () => Promise<T>): Promise<T> {
    const attributes: Attributes = { "nex.host.op": op, "nex.obj.bucket": bucket };
    if (name !== undefined) attributes["nex.obj.name"] = name;
    return this.span(`${op} ${bucket}`, attributes, fn);
  }

  private msg<T>(op: string, subject: string, fn: (headers: Record<string, string>) => Promise<T>): Promise<T> {
    return this.span(`${op} ${subject}`, { "nex.host.op": `msg.${op}`, "messaging.system": "nats", "messaging.destination.name": subject }, fn);
  }

  kvGet(bucket: string, key: string): Promise<Uint8Array | null> {
    return this.kv("kv.get", bucket, key, () => this.inner.kvGet(bucket, key));
  }

  kvSet(bucket: string, key: string, value: Uint8Array): Promise<number> {
    return this.kv("kv.set", bucket, key, () => this.inner.kvSet(bucket, key, value));
  }

  kvDelete(bucket: string, key: string): Promise<void> {
    return this.kv("kv.delete", bucket, key, () => this.inner.kvDelete(bucket, key));
  }

  kvKeys(bucket: string, filter?: string): Promise<string[]> {
    return this.kv("kv.keys", bucket, undefined, () => this.inner.kvKeys(bucket, filter));
  }

  objGet(bucket: string, name: string): Promise<Uint8Array | null> {
    return this.obj("obj.get", bucket, name, () => this.inner.objGet(bucket, name));
  }

  objPut(bucket: string, name: string, data: Uint8Array): Promise<ObjectInfoLite> {
    return this.obj("obj.put", bucket, name, () => this.inner.objPut(bucket, name, data));
  }

  objDelete(bucket: string, name: string): Promise<boolean> {
    return this.obj("obj.delete", bucket, name, () => this.inner.objDelete(bucket, name));
  }

  objList(bucket: string): Promise<ObjectInfoLite[]> {
    return this.obj("obj.list", bucket, undefined, () => this.inner.objList(bucket));
  }

  publish(subject: string, data: Uint8Array, headers?: Record<string, string>): Promise<void> {
    return this.msg("publish", subject, (h) => this.inner.publish(subject, data, { ...headers, ...h }));
  }

  request(subject: string, data: Uint8Array, timeoutMs?: number, headers?: Record<string, string>): Promise<Uint8Array> {
    return this.msg("request", subject, (h) => this.inner.request(subject, data, timeoutMs, { ...headers, ...h }));
  }

  requestMany(subject: string, data: Uint8Array, maxWaitMs?: number, maxMessages?: number, headers?: Record<string, string>): Promise<Uint8Array[]> {
    return this.msg("requestMany", subject, (h) => this.inner.requestMany(subject, data, maxWaitMs, maxMessages, { ...headers, ...h }));
  }

  http(req: HttpRequest): Promise<HttpResponse> {
    const method = req.method.toUpperCase();
    return this.span(
      method,
      { "nex.host.op": "http", "http.request.method": method, ...urlAttributes(req.url) },
      (h) => this.inner.http({ ...req, headers: { ...req.headers, ...h } }),
      (s, r) => {
        s.setAttribute("http.response.status_code", r.status);
        if (r.status >= 400) s.setStatus({ code: SpanStatusCode.ERROR, message: `HTTP ${r.status}` });
      },
    );
  }
}
