/** What the page draws: the nodes and workloads tables, one workload's detail, and lines of logs and events. */
import type { NodeSummary } from "../../contract/index.js";
import { clock, fmtMs, fmtRate, fmtUptime, shortId, type EventEntry, type LogEntry, type WorkloadGroup, type WorkloadRow } from "../model.js";
import { byId, fill, h, type Child } from "./dom.js";

/** Most lines a list keeps on the page. */
export const MAX_LINES = 400;

function latency(l: { p50: number; p99: number } | undefined, which: "p50" | "p99"): string {
  return l ? fmtMs(l[which]) : "–";
}

function stateBadge(state: string): HTMLElement {
  return h("span", { class: "state", "data-state": state }, state);
}

function emptyRow(cols: number, text: string): HTMLTableRowElement {
  return h("tr", { class: "empty" }, h("td", { colspan: String(cols) }, text));
}

/** Redraws the nodes table. */
export function renderNodes(nodes: readonly NodeSummary[], namespace: string): void {
  byId("nodes-count").textContent = String(nodes.length);
  const body = byId("nodes").querySelector("tbody")!;
  if (nodes.length === 0) return fill(body, emptyRow(10, `No node answers in namespace ${namespace}.`));
  fill(
    body,
    ...nodes.map((n) =>
      h(
        "tr",
        { "data-node": n.nodeId },
        h("td", { class: "name" }, n.name),
        h("td", { class: "mono", title: n.nodeId }, shortId(n.nodeId, 12)),
        h("td", {}, stateBadge(n.state)),
        h("td", { class: "num" }, loadMeter(n.load)),
        h("td", { class: "num" }, `${n.freeMemMiB.toLocaleString()} MiB`),
        h("td", { class: "num" }, n.workloads),
        h("td", {}, fmtUptime(n.uptimeMs)),
        h("td", {}, n.types.join(", ")),
        h("td", { class: "mono" }, n.version),
        h("td", {}, ...tagChips(n.tags)),
      ),
    ),
  );
}

function loadMeter(load: number): HTMLElement {
  const pct = Math.min(100, Math.max(0, Math.round(load * 100)));
  const bar = h("span", { class: pct >= 80 ? "fill hot" : "fill" });
  // Through the CSS object model: the content policy refuses style attributes.
  bar.style.width = `${pct}%`;
  return h("span", { class: "load", title: "1-minute load average per core" }, h("span", { class: "bar" }, bar), ` ${load.toFixed(2)}`);
}

function tagChips(tags: Record<string, string>): Child[] {
  return Object.entries(tags)
    .filter(([k]) => !k.startsWith("nex."))
    .map(([k, v]) => h("span", { class: "chip" }, `${k}=${v}`));
}

/** Redraws the workloads table; the selected workload's row is marked. */
export function renderWorkloads(groups: readonly WorkloadGroup[], selected: string | undefined, namespace: string): void {
  byId("workloads-count").textContent = String(groups.length);
  const body = byId("workloads").querySelector("tbody")!;
  if (groups.length === 0) return fill(body, emptyRow(12, `No workloads in namespace ${namespace}. Deploy one with nex devrun.`));
  fill(
    body,
    ...groups.map((g) =>
      h(
        "tr",
        { "data-workload": g.name, class: g.name === selected ? "selected" : undefined, "aria-selected": g.name === selected ? "true" : "false" },
        h("td", { class: "name" }, h("button", { type: "button", class: "link", "data-workload": g.name }, g.name)),
        h("td", {}, g.type),
        h("td", {}, stateBadge(g.state)),
        h("td", { class: "num" }, g.instances.length),
        h("td", { class: "num" }, fmtRate(g.callsPerSec)),
        h("td", { class: g.errorsPerSec ? "num bad" : "num" }, fmtRate(g.errorsPerSec)),
        h("td", { class: "num" }, g.invocations.toLocaleString()),
        h("td", { class: g.failures ? "num bad" : "num" }, g.failures.toLocaleString()),
        h("td", { class: "num" }, latency(g.latencyMs, "p50")),
        h("td", { class: "num" }, latency(g.latencyMs, "p99")),
        h("td", { class: "num" }, g.restarts),
        h("td", { class: "error", title: g.lastError }, g.lastError ?? ""),
      ),
    ),
  );
}

function field(label: string, ...value: Child[]): Child[] {
  return [h("dt", {}, label), h("dd", {}, ...value)];
}

/** Redraws the detail of the selected workload (or says it is gone). */
export function renderDetail(g: WorkloadGroup | undefined, selected: string | undefined, nodeNames: ReadonlyMap<string, string>, logs: readonly LogEntry[]): void {
  const el = byId("detail");
  if (!selected) {
    fill(el, h("h2", {}, "Workload"), h("p", { class: "muted" }, "Click a workload to see its instances, triggers, counters and logs."));
    return;
  }
  const close = h("button", { type: "button", class: "close", id: "detail-close", "aria-label": "close" }, "×");
  if (!g) {
    fill(el, h("h2", {}, selected, close), h("p", { class: "muted" }, "No instance of this workload is running now."), ...logsBlock(selected, logs));
    return;
  }
  const newest = g.instances[0]!;
  // The detail is drawn anew on every poll: keep its log list at the bottom unless the reader scrolled up.
  const old = document.getElementById("detail-logs");
  const follow = !old || old.scrollHeight - old.scrollTop - old.clientHeight < 24;
  fill(
    el,
    h("h2", {}, h("span", { class: "name", id: "detail-name" }, g.name), " ", h("span", { class: "chip" }, g.type), close),
    h(
      "dl",
      { class: "fields" },
      ...field("State", stateBadge(g.state)),
      ...field("Triggers", ...(g.triggers.length ? g.triggers.map((t) => h("span", { class: "chip mono" }, t)) : ["–"])),
      ...field("Calls", `${g.invocations.toLocaleString()} (${fmtRate(g.callsPerSec)})`),
      ...field("Failures", `${g.failures.toLocaleString()} (${fmtRate(g.errorsPerSec)})`),
      ...field("Latency", g.latencyMs ? `p50 ${fmtMs(g.latencyMs.p50)}, p99 ${fmtMs(g.latencyMs.p99)}` : "not reported"),
      ...field("Restarts", String(g.restarts)),
      ...field("Location", h("span", { class: "mono" }, newest.location)),
      ...field("sha256", h("span", { class: "mono", title: newest.sha256 }, newest.sha256 ? shortId(newest.sha256, 16) : "–")),
    ),
    h("h3", {}, "Last error"),
    g.lastError ? h("pre", { class: "last-error", id: "detail-error" }, g.lastError) : h("p", { class: "muted", id: "detail-error" }, "none"),
    h("h3", {}, `Instances (${g.instances.length})`),
    instancesTable(g.instances, nodeNames),
    ...logsBlock(g.name, logs),
  );
  const list = byId("detail-logs");
  list.scrollTop = follow ? list.scrollHeight : (old?.scrollTop ?? 0);
}

function instancesTable(rows: readonly WorkloadRow[], nodeNames: ReadonlyMap<string, string>): HTMLElement {
  const head = ["ID", "Node", "State", "Started", "Calls", "Failures", "p50", "p99", "Restarts", "Exit"];
  return h(
    "table",
    { class: "instances", id: "detail-instances" },
    h("thead", {}, h("tr", {}, ...head.map((c, i) => h("th", { class: i >= 4 ? "num" : undefined }, c)))),
    h(
      "tbody",
      {},
      ...rows.map((w) =>
        h(
          "tr",
          { "data-instance": w.id },
          h("td", { class: "mono", title: w.id }, shortId(w.id, 10)),
          h("td", { title: w.nodeId }, nodeNames.get(w.nodeId) ?? shortId(w.nodeId, 10)),
          h("td", {}, stateBadge(w.state)),
          h("td", {}, clock(new Date(w.startedAt))),
          h("td", { class: "num" }, w.invocations.toLocaleString()),
          h("td", { class: w.failures ? "num bad" : "num" }, w.failures.toLocaleString()),
          h("td", { class: "num" }, latency(w.latencyMs, "p50")),
          h("td", { class: "num" }, latency(w.latencyMs, "p99")),
          h("td", { class: "num" }, w.restarts),
          h("td", { class: "num" }, w.exitCode ?? "–"),
        ),
      ),
    ),
  );
}

function logsBlock(name: string, logs: readonly LogEntry[]): Child[] {
  const mine = logs.filter((l) => l.name === name).slice(-MAX_LINES);
  const list = h("ol", { class: "lines", id: "detail-logs" }, ...mine.map((l) => logLine(l, false)));
  if (mine.length === 0) list.append(h("li", { class: "muted empty" }, "No log lines yet."));
  return [h("h3", {}, "Logs"), list];
}

/** One log line: time, workload and instance (unless shown in a workload's own list), stream, text. */
export function logLine(l: LogEntry, withName = true): HTMLLIElement {
  return h(
    "li",
    { "data-stream": l.stream, "data-workload": l.name },
    h("time", {}, clock(l.time)),
    withName ? h("span", { class: "who" }, `${l.name}[${l.id.slice(-6)}]`) : h("span", { class: "who" }, `[${l.id.slice(-6)}]`),
    l.stream === "stderr" ? h("span", { class: "err" }, "ERR") : undefined,
    h("span", { class: "text" }, l.line),
  );
}

/** One event line. */
export function eventLine(e: EventEntry): HTMLLIElement {
  const bad = /failed|lost|exited|restarting/.test(e.type);
  return h(
    "li",
    { "data-type": e.type, class: bad ? "bad" : undefined },
    h("time", {}, clock(e.time)),
    h("span", { class: "etype" }, e.type),
    h("span", { class: "text" }, e.summary),
  );
}

/** Appends a line to a list, keeps the list bounded, and follows the bottom if the reader was there. */
export function appendLine(list: HTMLElement, li: HTMLLIElement): void {
  const scroller = list.parentElement ?? list;
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 24;
  list.querySelector(":scope > li.empty")?.remove();
  list.append(li);
  while (list.childElementCount > MAX_LINES) list.firstElementChild?.remove();
  if (atBottom) scroller.scrollTop = scroller.scrollHeight;
}
