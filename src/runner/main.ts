/**
 * A runner process: hosts the functions of one namespace for one engine (v8 or wasm), apart from the node's
 * control loop. It owns its NATS connection, so invocations never pass through the node. Each function gets its own
 * host services (its capabilities) and log sink; the engine never sees the connection.
 * Started by `src/runtimes/functions/supervisor.ts` with `--no-node-snapshot` (isolated-vm needs it).
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { NexError, subjects, type LogStream, type WorkloadSpec } from "../contract/index.js";
import { NatsHostServices, HOST_SERVICE_DEFAULTS } from "../hostservices/nats.js";
import { connectNats } from "../nats/connect.js";
import type { InvocationTracer } from "../observe/trace-types.js";
import type { FunctionEngine, LoadedFunction, LogLimits, WorkloadBindings } from "../runtimes/engine.js";
import type { TickResult } from "../runtimes/runtime.js";
import type { FromRunner, InspectReply, RunnerInit, StatsReply, StopReply, ToRunner } from "../runtimes/functions/protocol.js";
import { loadEngine } from "../runtimes/registry.js";
import { LogLimiter } from "./logs.js";
import { TriggeredFunction } from "./triggers.js";

/** The reply size used when the server does not say (nats-server's default max_payload). */
const DEFAULT_MAX_PAYLOAD = 1_048_576;

let nc: NatsConnection | undefined;
let engine: FunctionEngine | undefined;
let init: RunnerInit | undefined;
/** Present only with an OTLP endpoint: without one, no tracing code is loaded. */
let tracer: InvocationTracer | undefined;
/** A deployed function, and its own connection when it has its own identity. */
interface Hosted {
  fn: TriggeredFunction;
  own?: NatsConnection;
}
const functions = new Map<string, Hosted>();

function send(m: FromRunner): void {
  if (process.connected) process.send?.(m);
}

/** Log lines wait for the end of the event-loop turn, so lines and replies of many invocations share one write. */
let pendingLogs: [string, string][] = [];
let logFlush: NodeJS.Immediate | undefined;

function flushLogs(): void {
  logFlush = undefined;
  const batch = pendingLogs;
  pendingLogs = [];
  for (const [subject, line] of batch) {
    try {
      nc?.publish(subject, line);
    } catch {
      // closed connection: logs are best effort
    }
  }
}

function logLine(spec: WorkloadSpec, stream: LogStream, line: string): void {
  pendingLogs.push([subjects.logs(spec.namespace, spec.name, spec.id, stream), line]);
  logFlush ??= setImmediate(flushLogs);
}

/** The log caps of every function in this runner. */
function logLimitsOf(r: RunnerInit): LogLimits {
  const t = r.tunables;
  return { linesPerInvocation: t.logLinesPerInvocation, bytesPerSecond: t.logBytesPerSecond, lineBytes: t.logLineBytes };
}

/** What one workload is given: host services bounded by its own timeout, and its log sink behind the log caps. */
function bindingsFor(conn: NatsConnection, spec: WorkloadSpec, r: RunnerInit, logs: LogLimiter): WorkloadBindings {
  const services = new NatsHostServices(conn, {
    autoCreateBuckets: r.autoCreateBuckets,
    callTimeoutMs: Math.min(HOST_SERVICE_DEFAULTS.callTimeoutMs, spec.timeoutMs),
    httpTimeoutMs: Math.min(HOST_SERVICE_DEFAULTS.httpTimeoutMs, spec.timeoutMs),
    maxCallMs: spec.timeoutMs,
    allowEgress: r.allowEgress,
  });
  const b: WorkloadBindings = {
    services,
    log: (stream, line) => logs.line(stream, line),
    logDropped: (count) => logs.dropped(count),
  };
  const t = tracer;
  return t ? { ...b, traced: (traceparent) => t.services(services, traceparent) } : b;
}

/** Loads the tracing code and starts exporting, when the node gave an endpoint. */
async function startTracing(r: RunnerInit): Promise<void> {
  if (!r.otlpEndpoint) return;
  const { createTracer } = await import("../observe/tracing.js");
  tracer = createTracer({ endpoint: r.otlpEndpoint, nodeId: r.nodeId, namespace: r.namespace, kind: r.kind });
}

/** `fn` with each invocation bracketed for the log caps. */
function withLogs(fn: LoadedFunction, logs: LogLimiter): LoadedFunction {
  const end = (): void => logs.end();
  return {
    invoke: (inv) => {
      logs.begin();
      const p = fn.invoke(inv);
      p.then(end, end);
      return p;
    },
    ...(fn.status ? { status: fn.status.bind(fn) } : {}),
    dispose: () => {
      fn.dispose();
      logs.close();
    },
  };
}

/** Stops a function and closes its own connection. */
async function release(h: Hosted): Promise<void> {
  await h.fn.stop();
  await h.own?.drain().catch(() => undefined);
}

async function handle(m: ToRunner): Promise<unknown> {
  switch (m.t) {
    case "init": {
      init = m.init;
      await startTracing(init);
      nc = await connectNats(init.connection, `nex-runner-${init.kind}-${init.namespace}`, true);
      engine = await loadEngine(init.kind, {
        nodeId: init.nodeId,
        maxReplyBytes: nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD,
        batchSize: init.tunables.batchSize,
        logLimits: logLimitsOf(init),
        idleEvictMs: init.tunables.idleEvictMs,
      });
      return { pid: process.pid };
    }
    case "deploy": {
      if (!nc || !engine || !init) throw new NexError("NEX_E_RUNNER_UNAVAILABLE", "runner is not initialised");
      const spec = m.spec;
      // A function with its own identity gets its own connection: the server then enforces what it may reach.
      const own = m.connection ? await connectNats(m.connection, `nex-fn-${spec.name}-${spec.id}`, true) : undefined;
      const conn = own ?? nc;
      try {
        const logs = new LogLimiter(logLimitsOf(init), (stream, line) => logLine(spec, stream, line));
        const loaded = withLogs(await engine.load(spec, m.code, bindingsFor(conn, spec, init, logs)), logs);
        const fn = new TriggeredFunction(
          spec,
          loaded,
          conn,
          init.tunables,
          // One of the runner's event types, with its own data: the union the protocol lists.
          (ns, type, workloadId, data) => send({ t: "event", ns, type, workloadId, data } as FromRunner),
          (stream, line) => logLine(spec, stream, line),
          tracer,
          nc,
        );
        try {
          await fn.start();
        } catch (err) {
          await fn.stop().catch(() => undefined);
          throw NexError.from(err, "NEX_E_DEPLOY_FAILED");
        }
        await conn.flush();
        const previous = functions.get(spec.id);
        functions.set(spec.id, { fn, own });
        if (previous) await release(previous);
      } catch (err) {
        await own?.close().catch(() => undefined);
        throw err;
      }
      return { id: spec.id };
    }
    case "stop": {
      const h = functions.get(m.id);
      functions.delete(m.id);
      if (h) await release(h);
      const reply: StopReply = h ? { stopped: true, stats: h.fn.stats() } : { stopped: false };
      return reply;
    }
    case "stats": {
      const out: StatsReply = { rssBytes: process.memoryUsage.rss(), functions: {} };
      for (const [id, h] of functions) out.functions[id] = h.fn.stats();
      return out;
    }
    case "tick": {
      const h = functions.get(m.id);
      const reply: TickResult = h ? await h.fn.tick(m.scheduledAt) : { ok: false, code: "NEX_E_NOT_FOUND", message: "the function is not in this runner" };
      return reply;
    }
    case "inspect": {
      const reply: InspectReply = functions.get(m.id)?.fn.recorder.activity.read();
      return reply;
    }
    case "ping":
      return { functions: functions.size };
  }
}

process.on("message", (m: ToRunner) => {
  handle(m).then(
    (data) => send({ t: "reply", rid: m.rid, ok: true, data }),
    (err: unknown) => send({ t: "reply", rid: m.rid, ok: false, error: NexError.from(err, "NEX_E_DEPLOY_FAILED").toBody() }),
  );
});

// The node is our reason to live: when it goes, we go, and nothing is orphaned.
process.on("disconnect", () => {
  void shutdown(0);
});
process.on("SIGTERM", () => {
  void shutdown(0);
});

async function shutdown(code: number): Promise<void> {
  const timer = setTimeout(() => process.exit(code), 3_000);
  timer.unref();
  await Promise.allSettled([...functions.values()].map((h) => release(h)));
  flushLogs();
  await tracer?.shutdown().catch(() => undefined);
  await engine?.close().catch(() => undefined);
  await nc?.drain().catch(() => undefined);
  process.exit(code);
}
