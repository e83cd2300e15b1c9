/**
 * The control API under fire: thousands of generated malformed requests to every control subject, as a tenant
 * (through the namespace's import) and as the control plane. Every targeted request must get exactly one reply with a
 * JSON body, an error code from the table (never NEX_E_INTERNAL) that matches what the decoder says about the body,
 * and printable headers; the node must keep running and run nothing it was sent.
 *
 * A run prints its seed; `NEX_FUZZ_SEED=<seed>` replays it.
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { createInbox, headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/nats-core";
import type { NexClient } from "../src/client/index.js";
import {
  ERRORS,
  NexError,
  SYSTEM_NAMESPACE,
  decode,
  isErrorCode,
  parseBody,
  subjects,
  type ControlVerb,
  type ErrorCode,
  type NexEvent,
  type NodeSummary,
} from "../src/contract/index.js";
import { claimsOf } from "../src/auth/jwts.js";
import { parseCredsText } from "../src/nats/nkeys.js";
import type { NexNode } from "../src/node/node.js";
import { TestEnv, check } from "../src/testkit/index.js";
import { RequestGen } from "./helpers/fuzz.js";

const SEED = Number(process.env["NEX_FUZZ_SEED"] ?? Math.floor(Math.random() * 2 ** 32));
const REQUESTS_PER_SIDE = 1_600;
const BATCH = 100;

type Who = "tenant" | "admin";

/** The subjects a fuzz request may go to: every verb, broadcast and targeted as the node serves them. */
const FORMS: { verb: ControlVerb; targeted: boolean }[] = [
  { verb: "PING", targeted: false },
  { verb: "PING", targeted: true },
  { verb: "INFO", targeted: true },
  { verb: "AUCTION", targeted: false },
  { verb: "DEPLOY", targeted: true },
  { verb: "STOP", targeted: true },
  { verb: "LIST", targeted: false },
  { verb: "LIST", targeted: true },
  { verb: "LAMEDUCK", targeted: true },
  { verb: "PLACE", targeted: true },
  { verb: "INSPECT", targeted: true },
];

/** What the node must answer: the decoder's code for the body, or anything a decoded request may meet later. */
type Expect = { code: ErrorCode } | { decoded: true };

interface Sent {
  i: number;
  who: Who;
  verb: ControlVerb;
  ns: string;
  targeted: boolean;
  bytes: Uint8Array;
  /** The request carried its own Nats-Request-Info header. */
  spoofed: boolean;
  expect: Expect;
}

/** Codes a request the decoder accepts may still get, by verb (nothing here deploys or stops anything). */
const AFTER_DECODE: Partial<Record<ControlVerb, ErrorCode[]>> = {
  PING: ["NEX_E_NODE_NOT_FOUND"],
  DEPLOY: [
    "NEX_E_ARTIFACT_FETCH", "NEX_E_BAD_LOCATION", "NEX_E_FORBIDDEN", "NEX_E_UNSUPPORTED_TYPE", "NEX_E_LIMIT", "NEX_E_HASH_MISMATCH",
    "NEX_E_ARTIFACT_TOO_LARGE", "NEX_E_BAD_ARTIFACT", "NEX_E_DEPLOY_FAILED", "NEX_E_NO_NAMESPACE", "NEX_E_LAMEDUCK", "NEX_E_UNSUPPORTED_LIMIT",
  ],
  STOP: ["NEX_E_NOT_FOUND"],
  PLACE: ["NEX_E_NOT_FOUND", "NEX_E_CONFLICT", "NEX_E_FORBIDDEN", "NEX_E_UNSUPPORTED_TYPE"],
  INSPECT: ["NEX_E_NOT_FOUND"],
};

/** Printable: no control, format or line-separator characters, no lone surrogates. */
const PRINTABLE = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]*$/u;

/** True when a string in `v` (keys included) has a control character other than tab. */
function hasControl(v: unknown): boolean {
  // eslint-disable-next-line no-control-regex
  if (typeof v === "string") return /[\u0000-\u0008\u000a-\u001f\u007f]/.test(v);
  if (Array.isArray(v)) return v.some(hasControl);
  return v !== null && typeof v === "object" && Object.entries(v).some(([k, x]) => hasControl(k) || hasControl(x));
}

/** What the decoder (and the checks the node makes before it) say about a request. */
function expectation(who: Who, verb: ControlVerb, ns: string, bytes: Uint8Array): Expect {
  const run = (f: () => unknown): Expect => {
    try {
      f();
      return { decoded: true };
    } catch (err) {
      return { code: NexError.from(err).code };
    }
  };
  let body: Record<string, unknown>;
  try {
    body = parseBody(bytes);
  } catch (err) {
    return { code: NexError.from(err).code };
  }
  const unserved = ns === "ghost";
  switch (verb) {
    case "PING":
      return run(() => decode.ping(body));
    case "INFO": {
      const r = run(() => decode.info(body));
      return "code" in r || ns !== SYSTEM_NAMESPACE || who === "admin" ? r : { code: "NEX_E_FORBIDDEN" };
    }
    case "AUCTION":
      return run(() => decode.auction(body));
    case "DEPLOY":
      return unserved ? { code: "NEX_E_NODE_NOT_FOUND" } : run(() => decode.deploy(body, ns));
    case "STOP":
      return unserved ? { code: "NEX_E_NODE_NOT_FOUND" } : run(() => decode.stop(body));
    case "LIST":
      if (unserved) return { code: "NEX_E_NODE_NOT_FOUND" };
      return run(() => decode.list(body));
    case "LAMEDUCK":
      return who === "tenant" ? { code: "NEX_E_FORBIDDEN" } : run(() => decode.lameduck(body));
    case "PLACE":
      if (who === "tenant") return { code: "NEX_E_FORBIDDEN" };
      if (unserved) return { code: "NEX_E_NODE_NOT_FOUND" };
      return run(() => decode.place(body));
    case "INSPECT":
      return unserved ? { code: "NEX_E_NODE_NOT_FOUND" } : run(() => decode.inspect(body));
  }
}

function describeSent(s: Sent): string {
  const text = new TextDecoder().decode(s.bytes.subarray(0, 160));
  return `[seed ${SEED}, #${s.i}] ${s.who} ${s.verb}${s.targeted ? ".<node>" : ""} in ${s.ns}${s.spoofed ? " (own Nats-Request-Info)" : ""}, ${s.bytes.length} bytes: ${JSON.stringify(text)}`;
}

function checkHeaders(h: MsgHdrs | undefined, ctx: string): void {
  if (!h) return;
  for (const k of h.keys()) {
    assert.match(k, /^[\x21-\x7e]+$/, `${ctx}: header name ${JSON.stringify(k)}`);
    for (const v of h.values(k)) assert.match(v, PRINTABLE, `${ctx}: header ${k} is not printable: ${JSON.stringify(v)}`);
  }
}

/** Checks one reply against the request it answers. */
function checkReply(s: Sent, m: Msg, nodeId: string): void {
  const ctx = describeSent(s);
  checkHeaders(m.headers, ctx);
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(m.data)) as Record<string, unknown>;
  } catch (err) {
    assert.fail(`${ctx}: the reply is not UTF-8 JSON: ${(err as Error).message}`);
  }
  assert.ok(body !== null && typeof body === "object", `${ctx}: the reply is a JSON object`);
  const status = m.headers?.get("Nats-Service-Error-Code");
  if (status) {
    const code = body["code"];
    assert.ok(isErrorCode(code), `${ctx}: ${JSON.stringify(code)} is a code of the table`);
    assert.notEqual(code, "NEX_E_INTERNAL", `${ctx}: answered NEX_E_INTERNAL: ${String(body["message"])}`);
    assert.equal(status, String(ERRORS[code].status), `${ctx}: status header`);
    assert.ok(typeof body["message"] === "string" && body["message"].length <= 1_100, `${ctx}: a bounded message`);
    assert.equal(typeof body["hint"], "string", `${ctx}: a hint`);
    if (s.spoofed) return;
    if ("code" in s.expect) assert.equal(code, s.expect.code, `${ctx}: the decoder says ${s.expect.code}; the node said ${code}: ${String(body["message"])}`);
    else assert.ok((AFTER_DECODE[s.verb] ?? []).includes(code), `${ctx}: a decoded request answered ${code}: ${String(body["message"])}`);
    return;
  }
  if (!s.spoofed) assert.ok(!("code" in s.expect), `${ctx}: succeeded although the decoder refuses it with ${"code" in s.expect ? s.expect.code : ""}`);
  switch (s.verb) {
    case "PING":
    case "INFO":
    case "LIST":
    case "INSPECT":
      assert.equal(body["nodeId"], nodeId, `${ctx}: a reply of this node`);
      break;
    case "AUCTION":
      assert.equal((body["node"] as NodeSummary | undefined)?.nodeId, nodeId, `${ctx}: a bid of this node`);
      break;
    default:
      assert.fail(`${ctx}: a generated ${s.verb} succeeded: ${JSON.stringify(body).slice(0, 300)}`);
  }
}

void describe("control API fuzz", () => {
  let env: TestEnv;
  let node: NexNode;
  let client: NexClient;
  let tenant: NatsConnection;
  let admin: NatsConnection;
  let accounts: { nex: string; tenant: string };
  const deployed: NexEvent[] = [];
  let canaryId = "";

  before(async () => {
    env = await TestEnv.start();
    node = await env.node({ name: "fuzz" });
    client = await env.client();
    canaryId = (await env.deployJs(client, "canary", `(s, p) => "alive:" + p.length`, ["fz.canary"])).id;
    tenant = await env.nc();
    admin = await env.adminNc();
    const accountOf = (file: string): string => {
      const c = claimsOf(parseCredsText(readFileSync(file, "utf8")).jwt);
      return c.nats?.issuer_account ?? c.iss;
    };
    accounts = { nex: accountOf(env.connection.credsFile!), tenant: accountOf(env.tenant().credsFile!) };
    // The canary is deployed above; whatever the fuzz sends, no other workload may be.
    for (const [nc, ns] of [[tenant, "default"], [admin, SYSTEM_NAMESPACE]] as const) {
      nc.subscribe(subjects.event(ns, "workload_deployed"), { callback: (_e, m) => {
          // The canary's own event may arrive after its deploy's reply.
          const e = m.json<NexEvent>();
          if (e.subject !== canaryId) deployed.push(e);
        } });
    }
    await Promise.all([tenant.flush(), admin.flush()]);
  });
  after(() => env?.stop());

  void test("fuzz - decoders throw only coded errors, and what they accept is what was sent", (t) => {
    t.diagnostic(`seed ${SEED} (replay with NEX_FUZZ_SEED=${SEED})`);
    const gen = new RequestGen(SEED);
    const decoders: Record<ControlVerb, (b: Record<string, unknown>) => unknown> = {
      PING: decode.ping,
      INFO: decode.info,
      AUCTION: decode.auction,
      DEPLOY: (b) => decode.deploy(b, "default"),
      STOP: decode.stop,
      LIST: decode.list,
      LAMEDUCK: decode.lameduck,
      PLACE: decode.place,
      INSPECT: decode.inspect,
    };
    let accepted = 0;
    for (let i = 0; i < 4_000; i++) {
      const verb = gen.pick(Object.keys(decoders) as ControlVerb[]);
      const bytes = gen.body(verb, 65_536);
      const ctx = `[seed ${SEED}, #${i}] ${verb} ${JSON.stringify(new TextDecoder().decode(bytes.subarray(0, 160)))}`;
      let out: Record<string, unknown>;
      try {
        out = decoders[verb](parseBody(bytes)) as Record<string, unknown>;
      } catch (err) {
        assert.ok(err instanceof NexError, `${ctx}: threw ${String(err)}, not a coded error`);
        assert.notEqual(err.code, "NEX_E_INTERNAL", ctx);
        assert.ok(err.message.length <= 2_000, `${ctx}: a bounded message`);
        continue;
      }
      accepted++;
      // Every field sent comes back as it was sent (durations come back as milliseconds).
      const sent = (bytes.length === 0 ? {} : JSON.parse(new TextDecoder().decode(bytes))) as Record<string, unknown>;
      for (const [k, v] of Object.entries(sent)) {
        if (v === null) continue;
        // argv and env go to a process as they are; every other string must be free of control characters.
        if (k !== "argv" && k !== "env") assert.ok(!hasControl(v), `${ctx}: field ${k} was accepted with a control character`);
        assert.ok(Object.prototype.hasOwnProperty.call(out, k), `${ctx}: field ${k} was dropped`);
        if (k === "delayMs") assert.ok(Number.isInteger(out[k]), `${ctx}: delayMs is a number of milliseconds`);
        else assert.deepEqual(out[k], v, `${ctx}: field ${k} was changed`);
      }
    }
    t.diagnostic(`${accepted} of 4000 generated bodies were valid`);
  });

  void test("fuzz - every control subject, as a tenant and as the control plane: one coded reply, printable headers, the node stays up, nothing is deployed", async (t) => {
    t.diagnostic(`seed ${SEED} (replay with NEX_FUZZ_SEED=${SEED})`);
    const failures: unknown[] = [];
    const onFailure = (err: unknown): void => void failures.push(err);
    process.on("unhandledRejection", onFailure);
    process.on("uncaughtException", onFailure);
    t.after(() => {
      process.off("unhandledRejection", onFailure);
      process.off("uncaughtException", onFailure);
    });
    const before = await client.request<NodeSummary>("PING", node.id, {});
    const maxPayload = Math.min(tenant.info?.max_payload ?? 1_048_576, admin.info?.max_payload ?? 1_048_576);
    const gen = new RequestGen(SEED ^ 0x5eed);
    const sent: Sent[] = [];
    const replies = new Map<number, Msg[]>();
    const inboxes = new Map<Who, string>();
    for (const [who, nc] of [["tenant", tenant], ["admin", admin]] as const) {
      const inbox = createInbox();
      inboxes.set(who, inbox);
      nc.subscribe(`${inbox}.>`, {
        callback: (_e, m) => {
          const i = Number(m.subject.slice(inbox.length + 1));
          replies.set(i, [...(replies.get(i) ?? []), m]);
        },
      });
      await nc.flush();
    }

    const spoofHeaders = (): { h: MsgHdrs; spoofed: boolean } | undefined => {
      if (!gen.chance(0.15)) return undefined;
      const h = natsHeaders();
      const key = gen.pick(["Nats-Request-Info", "Nats-Request-Info", "X-Fuzz", "Nats-Service-Error", "Nats-Msg-Id"]);
      const value = gen.pick([
        JSON.stringify({ acc: accounts.nex }), JSON.stringify({ acc: accounts.tenant }), JSON.stringify({ acc: "AFAKE" }),
        "null", "{}", "[]", '"x"', '{"acc":5}', gen.str().replace(/[\r\n]/g, "").slice(0, 512),
      ]);
      try {
        h.set(key, value);
      } catch {
        return undefined;
      }
      return { h, spoofed: key === "Nats-Request-Info" };
    };

    const makeRequest = (i: number, who: Who): { s: Sent; subject: string; h?: MsgHdrs } => {
      const form = gen.pick(FORMS);
      const ns = who === "tenant" ? "default" : gen.pick(["default", SYSTEM_NAMESPACE, "ghost"]);
      const headers = spoofHeaders();
      for (;;) {
        const bytes = gen.body(form.verb, maxPayload - 2_048);
        const expect = expectation(who, form.verb, ns, bytes);
        // A valid LAMEDUCK from the control plane would stop the node: it is never sent.
        if (who === "admin" && form.verb === "LAMEDUCK" && !("code" in expect)) continue;
        const s: Sent = { i, who, verb: form.verb, ns, targeted: form.targeted, bytes, spoofed: headers?.spoofed ?? false, expect };
        return { s, subject: subjects.control(ns, form.verb, form.targeted ? node.id : undefined), h: headers?.h };
      }
    };

    for (let start = 0; start < 2 * REQUESTS_PER_SIDE; start += BATCH) {
      const batch: Sent[] = [];
      for (let i = start; i < start + BATCH; i++) {
        const who: Who = i % 2 === 0 ? "tenant" : "admin";
        const { s, subject, h } = makeRequest(i, who);
        if (who === "admin" && s.verb === "LAMEDUCK") {
          assert.throws(() => decode.lameduck(parseBody(s.bytes)), `${describeSent(s)}: a control-plane LAMEDUCK the fuzz sends is invalid`);
        }
        sent.push(s);
        batch.push(s);
        (who === "tenant" ? tenant : admin).publish(subject, s.bytes, { reply: `${inboxes.get(who)!}.${i}`, headers: h });
      }
      await Promise.all([tenant.flush(), admin.flush()]);
      const targeted = batch.filter((s) => s.targeted);
      await check(() => targeted.every((s) => replies.has(s.i)), 30_000).catch(() => {
        const silent = targeted.filter((s) => !replies.has(s.i));
        assert.fail(`${silent.length} targeted requests got no reply, e.g. ${silent.slice(0, 3).map(describeSent).join("\n")}`);
      });
      // Between batches: the node answers, is the same node, and still runs.
      const now = await client.request<NodeSummary>("PING", node.id, {});
      assert.equal(now.startedAt, before.startedAt, `[seed ${SEED}] the same node answers`);
      assert.equal(node.summary().state, "running", `[seed ${SEED}] the node is running after request ${start + BATCH}`);
    }

    let answered = 0;
    for (const s of sent) {
      const got = replies.get(s.i) ?? [];
      assert.ok(got.length <= 1, `${describeSent(s)}: answered ${got.length} times`);
      if (got[0]) {
        answered++;
        checkReply(s, got[0], node.id);
      }
    }
    t.diagnostic(`${sent.length} requests, ${answered} replies, ${sent.filter((s) => !("code" in s.expect)).length} decodable`);
    assert.deepEqual(failures, [], `[seed ${SEED}] no unhandled errors in the node`);
    assert.equal(node.summary().state, "running");
    assert.deepEqual((await client.list()).map((w) => w.name), ["canary"], `[seed ${SEED}] nothing but the canary runs`);
    // The canary answers. On a starved machine its runner may have been judged unresponsive and respawned (its
    // subscription is back within the respawn backoff), so a moment without a responder is waited out, and said.
    let waited = 0;
    for (;;) {
      try {
        assert.equal((await client.invoke("fz.canary", "abc")).string(), "alive:3");
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== "NEX_E_NO_NODES" || waited >= 15_000) throw err;
        await new Promise((r) => setTimeout(r, 500));
        waited += 500;
      }
    }
    if (waited > 0) t.diagnostic(`the canary had no responder for ${waited} ms (its runner was respawned)`);
    assert.deepEqual(deployed, [], `[seed ${SEED}] no workload_deployed event since the canary's: ${JSON.stringify(deployed.map((e) => e.data))}`);
  });
});
