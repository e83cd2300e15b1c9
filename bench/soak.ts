/**
 * `npm run soak`: three nats-servers in a JetStream cluster (operator mode, as `nex up` sets it up) and three nodes as
 * `nex node up` processes, a few workloads, steady request load, and faults drawn from a seed: a server or a node
 * killed with SIGKILL and started again after a pause (a node with its seed file, so it keeps its identity), never
 * more than one server and one node down at once. Every second it asks the nodes what runs (`nex ls`). At the end it
 * prints what the requests became, how long each workload went unanswered, how often the nodes ran more or fewer
 * instances than wanted, and how long they took to settle; it exits 1 when the workloads are not back at exactly their
 * replicas within 30 s of the end of the load.
 *
 *   npm run soak -- [--minutes 3] [--seed N] [--rate 300] [--timeout-ms 2000] [--heartbeat 1s] [--no-native] [--json]
 */
import { appendFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInbox, type Msg, type NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { errorFromReply, type NexClient } from "../src/client/index.js";
import { NODES_BUCKET, STATE_BUCKET, subjects } from "../src/contract/index.js";
import { findNatsServer } from "../src/nats/server.js";
import { TestEnv } from "../src/testkit/index.js";
import { kill9, nodeUp, type NodeProc } from "../test/helpers/nodes.js";
import { describeMachine } from "./lib/proc.js";
import { Ledger, exact, renderSoak, rng, sampleFigures, settledAfter, type Fault, type Sample, type SoakReport, type SoakWorkload } from "./lib/soak.js";
import { buildGoEcho, fileArtifact } from "./lib/workloads.js";

const USAGE = `usage: npm run soak -- [--minutes 3] [--seed N] [--rate 300] [--timeout-ms 2000] [--heartbeat 1s] [--no-native] [--json]
  --minutes     how long the load runs (faults stop a quarter of it, at most 45 s, before its end)
  --seed        draws the faults (default: random, printed)
  --rate        requests per second, spread evenly over the workloads
  --timeout-ms  the client's timeout per request
  --heartbeat   the nodes' heartbeat (--heartbeat of nex node up)
  --no-native   leave out the Go echo service
  --json        print the report as JSON instead of tables`;

interface Settings {
  minutes: number;
  seed: number;
  rate: number;
  timeoutMs: number;
  heartbeat: string;
  native: boolean;
  json: boolean;
}

function parseArgs(argv: string[]): Settings {
  const s: Settings = { minutes: 3, seed: Math.floor(Math.random() * 2 ** 31), rate: 300, timeoutMs: 2_000, heartbeat: "1s", native: true, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    const num = (): number => {
      const v = Number(value());
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${flag} needs a positive number\n${USAGE}`);
      return v;
    };
    if (flag === "--minutes") s.minutes = num();
    else if (flag === "--seed") s.seed = Math.floor(num());
    else if (flag === "--rate") s.rate = num();
    else if (flag === "--timeout-ms") s.timeoutMs = num();
    else if (flag === "--heartbeat") s.heartbeat = value();
    else if (flag === "--no-native") s.native = false;
    else if (flag === "--json") s.json = true;
    else if (flag === "--help" || flag === "-h") {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument "${a}"\n${USAGE}`);
  }
  return s;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** No faults in the first seconds of the load: the figures start from a steady state. */
const WARMUP_MS = 10_000;
/** Servers stay down this long (ms). */
const SERVER_DOWN_MS: [number, number] = [2_000, 8_000];
/** Nodes stay down this long: some come back before the others judge them lost, some after. */
const NODE_DOWN_MS: [number, number] = [2_000, 15_000];
/** Between one fault and the next. */
const FAULT_GAP_MS: [number, number] = [6_000, 16_000];
/** The final check's bound, and how long the workloads must stay exact in it. */
const FINAL_CHECK_MS = 30_000;
const FINAL_STEADY_SAMPLES = 3;
const NODE_NAMES = ["soak-a", "soak-b", "soak-c"];

class Soak {
  readonly logDir = mkdtempSync(join(tmpdir(), "nex-soak-logs-"));
  readonly nodes = new Map<string, NodeProc | undefined>();
  readonly faults: Fault[] = [];
  readonly samples: Sample[] = [];
  readonly notes: string[] = [];
  private loadStart = 0;
  private serverDown = false;
  private nodeDown = false;

  constructor(
    readonly s: Settings,
    readonly env: TestEnv,
  ) {}

  progress(line: string): void {
    const t = this.loadStart ? `${((Date.now() - this.loadStart) / 1000).toFixed(1).padStart(6)} s ` : "";
    process.stderr.write(`· ${t}${line}\n`);
  }

  private since(): number {
    return Math.round((Date.now() - this.loadStart) / 100) / 10;
  }

  async startNode(name: string): Promise<NodeProc> {
    for (let attempt = 1; ; attempt++) {
      try {
        const p = await nodeUp(this.env, name, ["--heartbeat", this.s.heartbeat]);
        const file = join(this.logDir, `${name}.log`);
        appendFileSync(file, `--- started ${new Date().toISOString()} (${p.id})\n`);
        const write = (d: Buffer): void => appendFileSync(file, d);
        p.child.stdout?.on("data", write);
        p.child.stderr?.on("data", write);
        this.nodes.set(name, p);
        return p;
      } catch (err) {
        if (attempt >= 5) throw err;
        this.progress(`node ${name} did not start (${(err as Error).message.split("\n")[0]}); trying again`);
        await sleep(2_000);
      }
    }
  }

  /** The streams server `i` leads, as far as the cluster says. */
  private async leaderOf(admin: NatsConnection, i: number): Promise<string[] | undefined> {
    try {
      const jsm = await jetstreamManager(admin, { timeout: 2_000 });
      const out: string[] = [];
      for (const s of [`KV_${STATE_BUCKET}`, `KV_${NODES_BUCKET}`, "NEX_CLAIMS"]) if ((await jsm.streams.info(s)).cluster?.leader === `n${i}`) out.push(s);
      return out;
    } catch {
      return undefined;
    }
  }

  async killServer(admin: NatsConnection, i: number, downMs: number): Promise<void> {
    this.serverDown = true;
    const leaderOf = await this.leaderOf(admin, i);
    await this.env.killServer(i);
    const f: Fault = { kind: "server", target: `n${i}`, killedS: this.since(), backS: undefined, ...(leaderOf ? { leaderOf } : {}) };
    this.faults.push(f);
    this.progress(`killed server n${i}${leaderOf?.length ? ` (leader of ${leaderOf.join(", ")})` : ""}; back in ${(downMs / 1000).toFixed(1)} s`);
    await sleep(downMs);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.env.startServer(i);
        break;
      } catch (err) {
        if (attempt >= 10) throw err;
        await sleep(1_000);
      }
    }
    f.backS = this.since();
    this.progress(`server n${i} runs again`);
    this.serverDown = false;
  }

  async killNode(name: string, downMs: number): Promise<void> {
    this.nodeDown = true;
    const p = this.nodes.get(name)!;
    this.nodes.set(name, undefined);
    await kill9(p);
    const f: Fault = { kind: "node", target: name, killedS: this.since(), backS: undefined };
    this.faults.push(f);
    this.progress(`killed node ${name}; back in ${(downMs / 1000).toFixed(1)} s`);
    await sleep(downMs);
    await this.startNode(name);
    f.backS = this.since();
    this.progress(`node ${name} runs again`);
    this.nodeDown = false;
  }

  /** Draws faults until `until` (ms since the start of the load); resolves once everything killed runs again. */
  async chaos(admin: NatsConnection, until: number): Promise<void> {
    const r = rng(this.s.seed);
    const inFlight: Promise<void>[] = [];
    await sleep(WARMUP_MS);
    for (;;) {
      await sleep(r.between(...FAULT_GAP_MS));
      if (Date.now() - this.loadStart >= until) break;
      const kinds = [...(this.serverDown ? [] : ["server" as const]), ...(this.nodeDown ? [] : ["node" as const])];
      // Both draws happen whatever is free, so a seed gives the same sequence of choices.
      const want = r.next() < 0.5 ? "server" : "node";
      const server = Math.floor(r.next() * 3);
      const node = r.pick(NODE_NAMES);
      const down = r.next();
      if (kinds.length === 0) continue;
      const kind = kinds.includes(want) ? want : kinds[0]!;
      if (kind === "server") inFlight.push(this.killServer(admin, server, SERVER_DOWN_MS[0] + down * (SERVER_DOWN_MS[1] - SERVER_DOWN_MS[0])));
      else inFlight.push(this.killNode(node, NODE_DOWN_MS[0] + down * (NODE_DOWN_MS[1] - NODE_DOWN_MS[0])));
    }
    await Promise.all(inFlight);
  }

  /** Writes the events of a namespace (heartbeats left out) to events.log, for reading a run afterwards. */
  logEvents(nc: NatsConnection, ns: string): void {
    const file = join(this.logDir, "events.log");
    const names = new Map<string, string>();
    nc.subscribe(subjects.eventsFilter(ns), {
      callback: (err, m) => {
        if (err) return;
        try {
          const e = m.json<{ type: string; source: string; subject?: string; data: Record<string, unknown> }>();
          if (e.type.endsWith("node_heartbeat")) return;
          const node = e.source.replace(/^nex:\/\/node\//, "");
          for (const [n, p] of this.nodes) if (p?.id === node) names.set(node, n);
          const t = this.loadStart ? ((Date.now() - this.loadStart) / 1000).toFixed(2) : "-";
          appendFileSync(file, `${t.padStart(8)} ${(names.get(node) ?? node.slice(0, 8)).padEnd(8)} ${e.type} ${e.subject ?? ""} ${JSON.stringify(e.data)}\n`);
        } catch {
          // not an event
        }
      },
    });
  }

  /** Asks the nodes what runs, once. */
  async sample(client: NexClient): Promise<Sample> {
    const t = Date.now() - this.loadStart;
    try {
      const st = await client.status();
      const ids = new Map<string, Set<string>>();
      for (const w of st.instances) {
        if (w.state !== "running") continue;
        if (!ids.has(w.name)) ids.set(w.name, new Set());
        ids.get(w.name)!.add(w.id);
      }
      const running = Object.fromEntries([...ids.entries()].map(([n, s]) => [n, s.size]));
      return { t, failed: st.answered === 0, missingNodes: st.missingNodes.length, running };
    } catch {
      return { t, failed: true, missingNodes: 0, running: {} };
    }
  }

  async run(): Promise<SoakReport> {
    const { s, env } = this;
    this.progress(`seed ${s.seed}; logs of the nodes in ${this.logDir}`);
    const machine = describeMachine(findNatsServer());
    for (const n of NODE_NAMES) await this.startNode(n);
    this.progress(`${NODE_NAMES.length} nodes up`);
    const client = await env.client();
    const admin = await env.adminNc();
    const workloads: SoakWorkload[] = [
      { name: "fn-two", subject: "soak.two", replicas: 2, kind: "js" },
      { name: "fn-one", subject: "soak.one", replicas: 1, kind: "js" },
    ];
    for (const w of workloads) await env.deployJs(client, w.name, "(subject, payload) => payload\n", [w.subject], { replicas: w.replicas });
    if (s.native) {
      const built = await buildGoEcho(env.dir).catch((err: Error) => err);
      if (built instanceof Error) {
        this.notes.push(`the Go echo service was left out: it does not build here (${built.message})`);
      } else {
        const art = fileArtifact(built);
        await client.deploy({ name: "svc-echo", type: "native", location: art.location, sha256: art.sha256 });
        workloads.push({ name: "svc-echo", subject: "svc.echo", replicas: 1, kind: "native" });
      }
    } else this.notes.push("the Go echo service was left out (--no-native)");
    // The load starts from a steady state: every workload at its replicas, answering.
    const ready = Date.now() + 60_000;
    for (;;) {
      const smp = await this.sample(client);
      if (exact(workloads, smp)) break;
      if (Date.now() > ready) throw new Error(`the workloads did not reach their replicas: ${JSON.stringify(smp.running)}`);
      await sleep(500);
    }
    this.progress(`deployed ${workloads.map((w) => `${w.name} ×${w.replicas}`).join(", ")}`);
    this.logEvents(await env.nc(), "default");
    this.logEvents(admin, "system");

    const nc = await env.nc();
    const ledger = new Ledger(workloads, s.timeoutMs);
    const inbox = createInbox();
    const tag = `soak-${s.seed}-`;
    nc.subscribe(`${inbox}.*`, {
      callback: (err, m: Msg) => {
        if (err) return;
        const seq = Number(m.subject.slice(inbox.length + 1));
        ledger.answer(seq, classify(m, `${tag}${seq}`), Date.now());
      },
    });
    await nc.flush();
    let reconnects = 0;
    void (async () => {
      for await (const st of nc.status()) if (st.type === "reconnect") reconnects++;
    })().catch(() => undefined);

    const totalMs = s.minutes * 60_000;
    const quietMs = Math.min(45_000, totalMs / 4);
    this.loadStart = Date.now();
    ledger.begin(this.loadStart);
    const enc = new TextEncoder();
    let owed = 0;
    let lastTick = this.loadStart;
    let rr = 0;
    const load = setInterval(() => {
      const now = Date.now();
      owed += ((now - lastTick) / 1000) * s.rate;
      lastTick = now;
      for (; owed >= 1; owed--) {
        const wl = rr++ % workloads.length;
        const seq = ledger.send(wl, now);
        try {
          nc.publish(workloads[wl]!.subject, enc.encode(`${tag}${seq}`), { reply: `${inbox}.${seq}` });
        } catch (err) {
          ledger.failed(seq, `publish: ${(err as Error).name}`);
        }
      }
      ledger.sweep(now);
    }, 10);
    let sampling = true;
    const sampler = (async () => {
      let next = Date.now();
      while (sampling) {
        const smp = await this.sample(client);
        this.samples.push(smp);
        next += 1_000;
        await sleep(Math.max(0, next - Date.now()));
      }
    })();
    const ticker = setInterval(() => {
      const f = ledger.figures(Date.now());
      const last = this.samples.at(-1);
      this.progress(`sent ${f.sent}, answered ${f.answered}, lost ${f.lost}, duplicates ${f.duplicates}; running ${last ? (last.failed ? "?" : workloads.map((w) => `${w.name} ${last.running[w.name] ?? 0}`).join(", ")) : "?"}`);
    }, 10_000);

    const chaos = this.chaos(admin, totalMs - quietMs);
    await sleep(totalMs);
    clearInterval(load);
    const loadEnd = Date.now();
    this.progress("load stopped");
    // Everything killed runs again before the final check.
    await chaos;
    await sleep(Math.max(0, s.timeoutMs + 200 - (Date.now() - loadEnd)));
    ledger.sweep(Date.now() + s.timeoutMs);
    clearInterval(ticker);

    // The final check: every workload back at exactly its replicas, and staying so, within 30 s of the end.
    const endT = loadEnd - this.loadStart;
    let withinS: number | undefined;
    let lastRunning: Record<string, number> = {};
    for (;;) {
      const after = this.samples.filter((x) => x.t >= endT);
      const streak = [];
      for (let i = after.length - 1; i >= 0 && exact(workloads, after[i]!); i--) streak.unshift(after[i]!);
      lastRunning = after.at(-1)?.running ?? lastRunning;
      if (streak.length >= FINAL_STEADY_SAMPLES) {
        withinS = Math.round((streak[0]!.t - endT) / 100) / 10;
        break;
      }
      if (Date.now() - loadEnd > FINAL_CHECK_MS + FINAL_STEADY_SAMPLES * 1_000) break;
      await sleep(250);
    }
    sampling = false;
    await sampler;
    const ok = withinS !== undefined && withinS <= FINAL_CHECK_MS / 1000;
    if (reconnects > 0) this.notes.push(`the load's own connection reconnected ${reconnects} time(s) (a killed server was its own)`);

    const kills = this.faults.map((f) => f.killedS);
    const backs = this.faults.map((f) => f.backS ?? 0);
    const lastKillS = kills.length ? Math.max(...kills) : undefined;
    const lastBackS = backs.length ? Math.max(...backs) : undefined;
    return {
      date: new Date(this.loadStart).toISOString(),
      machine,
      settings: { minutes: s.minutes, seed: s.seed, ratePerS: s.rate, timeoutMs: s.timeoutMs, heartbeat: s.heartbeat, servers: 3, nodes: NODE_NAMES.length },
      notes: this.notes,
      load: ledger.figures(loadEnd),
      samples: sampleFigures(workloads, this.samples),
      faults: this.faults,
      convergence: {
        lastKillS,
        lastBackS,
        afterLastKillS: lastKillS === undefined ? undefined : settledAfter(workloads, this.samples, lastKillS),
        afterLastBackS: lastBackS === undefined ? undefined : settledAfter(workloads, this.samples, lastBackS),
      },
      finalCheck: { ok, withinS: ok ? withinS : undefined, running: lastRunning },
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((p) => (p ? kill9(p) : undefined)));
    await this.env.stop();
  }
}

/** What an answer says: undefined for the right reply, else a code. */
function classify(m: Msg, want: string): string | undefined {
  if (m.headers?.code === 503) return "no_responders";
  const e = errorFromReply(m);
  if (e) return e.code;
  return m.string() === want ? undefined : "wrong_reply";
}

async function main(): Promise<number> {
  const s = parseArgs(process.argv.slice(2));
  const env = await TestEnv.start({ cluster: 3 });
  const soak = new Soak(s, env);
  const watchdog = setTimeout(
    () => {
      process.stderr.write("soak: the run took far longer than asked; stopping\n");
      void soak.close().finally(() => process.exit(2));
    },
    s.minutes * 60_000 + 10 * 60_000,
  );
  watchdog.unref();
  const interrupted = (): void => void soak.close().finally(() => process.exit(130));
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    const report = await soak.run();
    process.stdout.write(s.json ? `${JSON.stringify(report, null, 2)}\n` : `${renderSoak(report)}\n`);
    return report.finalCheck.ok ? 0 : 1;
  } finally {
    clearTimeout(watchdog);
    await soak.close();
    process.stderr.write(`· logs of the nodes kept in ${soak.logDir}\n`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
