/**
 * The dashboard page. It fetches one namespace's credentials from the `nex ui` server (showing the token from the
 * URL's fragment), connects to NATS over websocket, polls PING and LIST every two seconds (rates come from
 * successive polls), and follows the namespace's feed of logs and events. When NATS goes away a banner says so
 * and the client reconnects; when the connection closes for good (an expired user, a restarted `nex ui`), the page
 * fetches credentials again and starts over.
 */
import type { NodeSummary } from "../../contract/index.js";
import { Rates, Ring, clock, groupWorkloads, sortNodes, type EventEntry, type LogEntry, type PageAccess, type WorkloadGroup } from "../model.js";
import { byId, h } from "./dom.js";
import { NexWs, type FeedEntry } from "./nexws.js";
import { MAX_LINES, appendLine, eventLine, logLine, renderDetail, renderNodes, renderWorkloads } from "./view.js";

const POLL_MS = 2_000;
const RETRY_MS = 2_000;
const TOKEN_KEY = "nex-ui-token";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The dashboard token: from the URL's fragment (then removed from the address bar), or from this tab's storage. */
function readToken(): string | undefined {
  const m = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, m[1]!);
    history.replaceState(null, "", location.pathname + location.search);
    return m[1];
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

class TokenRefused extends Error {}

async function fetchAccess(token: string): Promise<PageAccess> {
  let r: Response;
  try {
    r = await fetch("/api/connection", { headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
  } catch (err) {
    throw new Error(`the nex ui server does not answer (${message(err)})`, { cause: err });
  }
  if (r.status === 401) throw new TokenRefused("the dashboard token is not valid: open the URL that nex ui printed");
  if (!r.ok) throw new Error(`the nex ui server answered ${r.status}`);
  return (await r.json()) as PageAccess;
}

class App {
  private readonly rates = new Rates();
  private readonly logs = new Ring<LogEntry>(2_000);
  private readonly events = new Ring<EventEntry>(MAX_LINES);
  private nodes: NodeSummary[] = [];
  private groups: WorkloadGroup[] = [];
  private selected: string | undefined;
  private namespace = "";
  /** The last feed sequence shown, so a new connection reads on from there. */
  private lastSeq = 0;
  private polling = false;
  private redrawQueued = false;

  constructor() {
    byId("workloads").addEventListener("click", (ev) => {
      const row = (ev.target as Element).closest("[data-workload]");
      const name = row?.getAttribute("data-workload");
      if (name) this.select(name === this.selected ? undefined : name);
    });
    byId("detail").addEventListener("click", (ev) => {
      if ((ev.target as Element).closest("#detail-close")) this.select(undefined);
    });
    renderDetail(undefined, undefined, new Map(), []);
  }

  private banner(text: string | undefined): void {
    const b = byId("banner");
    b.textContent = text ?? "";
    b.hidden = text === undefined;
  }

  private status(state: "connecting" | "connected" | "reconnecting" | "offline", server?: string): void {
    const s = byId("status");
    s.dataset["state"] = state;
    s.textContent = state;
    if (server !== undefined) byId("server").textContent = server;
  }

  private select(name: string | undefined): void {
    this.selected = name;
    this.redraw();
  }

  private redraw(): void {
    renderWorkloads(this.groups, this.selected, this.namespace);
    const names = new Map(this.nodes.map((n) => [n.nodeId, n.name]));
    renderDetail(
      this.groups.find((g) => g.name === this.selected),
      this.selected,
      names,
      this.logs.all(),
    );
  }

  /** Redraws the detail's log lines at most once a frame, however fast lines come. */
  private queueRedraw(): void {
    if (this.redrawQueued) return;
    this.redrawQueued = true;
    requestAnimationFrame(() => {
      this.redrawQueued = false;
      this.redraw();
    });
  }

  private onFeed(e: FeedEntry): void {
    if (e.kind === "log") {
      if (e.log.seq > 0) this.lastSeq = Math.max(this.lastSeq, e.log.seq);
      this.logs.push(e.log);
      appendLine(byId("logs"), logLine(e.log));
      if (e.log.name === this.selected) this.queueRedraw();
    } else {
      if (e.event.seq > 0) this.lastSeq = Math.max(this.lastSeq, e.event.seq);
      this.events.push(e.event);
      appendLine(byId("events"), eventLine(e.event));
    }
  }

  private async poll(conn: NexWs): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const [nodes, list] = await Promise.all([conn.ping(), conn.list()]);
      this.nodes = sortNodes(nodes);
      this.groups = groupWorkloads(this.rates.update(Date.now(), list));
      renderNodes(this.nodes, this.namespace);
      this.redraw();
      byId("updated").textContent = `updated ${clock(new Date())}`;
    } catch (err) {
      byId("updated").textContent = `poll failed: ${message(err)}`;
    } finally {
      this.polling = false;
    }
  }

  /** One connection's life: polls, the feed and status changes, until the connection closes. */
  private async session(conn: NexWs, server: string): Promise<Error | undefined> {
    let connected = true;
    this.banner(undefined);
    this.status("connected", server);
    void (async () => {
      for await (const s of conn.status()) {
        if (s.type === "disconnect" || s.type === "reconnecting") {
          connected = false;
          this.status("reconnecting");
          this.banner(`NATS at ${server} is unreachable. Reconnecting…`);
        } else if (s.type === "reconnect") {
          connected = true;
          this.status("connected");
          this.banner(undefined);
          void this.poll(conn);
        } else if (s.type === "error") {
          this.banner(`NATS: ${message(s.error)}`);
        }
      }
    })();
    conn.feed((e) => this.onFeed(e), this.lastSeq).catch((err: unknown) => {
      if (!conn.nc.isClosed()) appendLine(byId("logs"), h("li", { class: "muted" }, `Cannot read the feed: ${message(err)}`));
    });
    const timer = setInterval(() => {
      if (connected) void this.poll(conn);
    }, POLL_MS);
    await this.poll(conn);
    const closed = await conn.closed();
    clearInterval(timer);
    return closed instanceof Error ? closed : undefined;
  }

  /** Fetches access, connects, and starts over whenever something fails. */
  async run(): Promise<void> {
    const token = readToken();
    if (!token) {
      this.status("offline");
      this.banner("This page needs the token in the URL that nex ui printed (…/#token=…): open that URL.");
      return;
    }
    for (;;) {
      let access: PageAccess;
      try {
        access = await fetchAccess(token);
      } catch (err) {
        this.status("offline");
        this.banner(err instanceof TokenRefused ? err.message : `Cannot get credentials: ${message(err)}. Retrying…`);
        await sleep(err instanceof TokenRefused ? RETRY_MS * 5 : RETRY_MS);
        continue;
      }
      this.namespace = access.namespace;
      byId("ns").textContent = access.namespace;
      document.title = `nex · ${access.namespace}`;
      const server = access.servers.join(", ");
      this.status("connecting", server);
      let conn: NexWs;
      try {
        conn = await NexWs.connect(access);
      } catch (err) {
        this.status("offline", server);
        this.banner(`NATS is unreachable at ${server}: ${message(err)}. Retrying…`);
        await sleep(RETRY_MS);
        continue;
      }
      const err = await this.session(conn, server);
      this.status("offline");
      this.banner(`The connection to NATS closed${err ? `: ${err.message}` : ""}. Connecting again…`);
      await sleep(RETRY_MS);
    }
  }
}

void new App().run();
