/**
 * The permissions of every user a node mints. The server enforces them; the node's own checks are the second lock.
 * All of them live inside one namespace's account, so nothing here can name another namespace or the control plane's
 * streams and buckets at all; what these lists add is the boundary inside a namespace:
 *
 * - a **function** (one user per deployed function) may receive only its triggers and its own replies, answer what
 *   it received, and publish outside `$NEX`/`$SYS`; it can neither reach nor impersonate the control API;
 * - a **native service** may use its namespace freely, except the control API and the feeds (it cannot answer or read
 *   control requests, nor forge log lines and events);
 * - a **runner** may only publish its namespace's log lines and dead letters;
 * - the **node's agent** in a namespace (artifacts, feeds, durable triggers) may do anything but serve the control API;
 * - the **dashboard** (`nex ui`) may only read: ask its namespace's nodes PING, LIST and INFO, and read the feeds.
 */
import type { Permissions } from "@nats-io/jwt";
import { subjects } from "../contract/index.js";

/** Subjects no workload may publish to. */
const WORKLOAD_PUB_DENY = ["$NEX.>", "$SYS.>"];

/** What a function may reach beyond its triggers. Absent fields mean "all of its namespace". */
export interface FunctionGrants {
  /** KV buckets it may use. */
  kv?: string[];
  /** Object store buckets it may use. */
  objectStore?: string[];
  /** Subjects it may publish and send requests to. */
  publish?: string[];
}

/** The inbox prefix of one workload's connection: nobody else may subscribe below it. */
export function workloadInbox(workloadId: string): string {
  return `_INBOX_${workloadId}`;
}

function streamApi(stream: string, create: boolean): string[] {
  const out = [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.API.STREAM.PURGE.${stream}`,
  ];
  if (create) out.push(`$JS.API.STREAM.CREATE.${stream}`, `$JS.API.STREAM.UPDATE.${stream}`);
  return out;
}

/** The publish allow list that narrows a function to its grants (or undefined: everything but the reserved). */
function grantedPublish(g: FunctionGrants, createBuckets: boolean): string[] | undefined {
  if (g.kv === undefined && g.objectStore === undefined && g.publish === undefined) return undefined;
  const allow = ["$JS.API.INFO", "$JS.FC.>", "$JS.ACK.>"];
  // A missing grant for one kind still means "all of that kind".
  if (g.kv === undefined) allow.push("$KV.>", "$JS.API.STREAM.*.KV_*", "$JS.API.DIRECT.GET.KV_*.>", "$JS.API.CONSUMER.*.KV_*", "$JS.API.CONSUMER.*.KV_*.>");
  for (const b of g.kv ?? []) allow.push(`$KV.${b}.>`, ...streamApi(`KV_${b}`, createBuckets));
  if (g.objectStore === undefined) allow.push("$O.>", "$JS.API.STREAM.*.OBJ_*", "$JS.API.DIRECT.GET.OBJ_*.>", "$JS.API.CONSUMER.*.OBJ_*", "$JS.API.CONSUMER.*.OBJ_*.>");
  for (const b of g.objectStore ?? []) allow.push(`$O.${b}.>`, ...streamApi(`OBJ_${b}`, createBuckets));
  if (g.publish === undefined) allow.push(">");
  else allow.push(...g.publish);
  return allow;
}

/** A function's user: its triggers, its own inbox, answers to what it received, and its grants. */
export function functionPermissions(workloadId: string, triggers: readonly string[], grants: FunctionGrants = {}, createBuckets = true): Permissions {
  const allow = grantedPublish(grants, createBuckets);
  return {
    pub: allow ? { allow, deny: [...WORKLOAD_PUB_DENY, "_INBOX.>"] } : { allow: [">"], deny: [...WORKLOAD_PUB_DENY, "_INBOX.>"] },
    sub: { allow: [...triggers, `${workloadInbox(workloadId)}.>`] },
    // One reply per request it received; replies to others' inboxes are otherwise denied above.
    resp: { max: 1, ttl: 0 },
  };
}

/** A native service's user: its namespace, without the control API or the feeds. */
export function servicePermissions(): Permissions {
  return {
    pub: { allow: [">"], deny: [...WORKLOAD_PUB_DENY] },
    sub: { allow: [">"], deny: ["$NEX.>"] },
  };
}

/**
 * A runner's own user: it publishes its namespace's log lines and its durable functions' dead letters (through
 * JetStream, so it also hears the acknowledgements on its own inbox), nothing else.
 */
export function runnerPermissions(ns: string, inboxPrefix: string): Permissions {
  return {
    pub: { allow: [subjects.logsFilter(ns), subjects.dlq(ns)] },
    sub: { allow: [`${inboxPrefix}.>`] },
  };
}

/** The node's agent inside a namespace: everything but serving or snooping the control API. */
export function agentPermissions(): Permissions {
  return { pub: { allow: [">"], deny: ["$NEX.SVC.>"] }, sub: { allow: [">"], deny: ["$NEX.SVC.>"] } };
}

/** A namespace's own users (what `nex ns creds` hands out): all of their namespace. */
export function tenantPermissions(): Permissions {
  return {};
}

/**
 * The dashboard's user (`nex ui` mints one per page load): PING, LIST and INFO of its namespace's control API, the
 * namespace's feeds (live, and history through an ephemeral consumer of its feed stream), replies on its own inbox
 * prefix only (so it never sees other clients' replies). It can deploy, stop or publish nothing.
 */
export function dashboardPermissions(ns: string, inboxPrefix: string): Permissions {
  const stream = subjects.feedStream(ns);
  return {
    pub: {
      allow: [
        subjects.control(ns, "PING"),
        subjects.control(ns, "PING", "*"),
        subjects.control(ns, "LIST"),
        subjects.control(ns, "LIST", "*"),
        subjects.control(ns, "INFO", "*"),
        "$JS.API.INFO",
        `$JS.API.STREAM.INFO.${stream}`,
        `$JS.API.CONSUMER.CREATE.${stream}`,
        `$JS.API.CONSUMER.CREATE.${stream}.>`,
        `$JS.API.CONSUMER.INFO.${stream}.>`,
        `$JS.API.CONSUMER.DELETE.${stream}.>`,
        `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
      ],
    },
    sub: { allow: [`${inboxPrefix}.>`, subjects.feedAll(ns)] },
  };
}
