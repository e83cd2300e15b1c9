/**
 * The dashboard as a person uses it: headless Chromium (Debian's package, driven by playwright-core) opens the URL
 * `nex ui` prints, against an operator-mode server with a websocket listener, a node and functions in two
 * namespaces. No part of it is mocked: the page talks to the real nats-server over websocket.
 *
 * `NEX_UPDATE_SCREENSHOT=1` also writes the screenshot to docs/dashboard.png (the one the README shows).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { NexClient } from "../src/client/index.js";
import { connectNats } from "../src/nats/connect.js";
import type { NexNode } from "../src/node/node.js";
import { REPO_ROOT, TestEnv, check, collect, freePort, spawnCli, waitForOutput } from "../src/testkit/index.js";
import type { PageAccess } from "../src/ui/index.js";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const GREETER = `(subject, payload) => {
  const who = String.fromCharCode(...payload);
  console.log("hello from greeter to " + who);
  return "hi " + who;
};`;

// Logs and fails with text that would be markup if the page ever parsed it.
const FLAKY = `(subject, payload) => {
  const s = String.fromCharCode(...payload);
  if (s === "boom") throw new Error("boom: <b id=bold>bad input</b>");
  console.log('<img src=x onerror="window.__pwned = 1"> flaky got ' + s);
  return s;
};`;

const URL_LINE = /dashboard of namespace \S+: (http:\/\/\S+)/;

/** The dashboard URL a `nex ui` printed. */
async function dashboardUrl(child: ChildProcess): Promise<string> {
  return URL_LINE.exec(await waitForOutput(child, URL_LINE, 30_000))![1]!;
}

/** Deploys a function the way `nex devrun` does: through the object store. */
async function deploy(client: NexClient, name: string, source: string, triggers: string[]): Promise<void> {
  const { location, sha256 } = await client.uploadArtifact(`${name}.js`, new TextEncoder().encode(source));
  await client.deploy({ name, type: "v8", location, sha256, triggers });
}

/** A raw HTTP GET (node:http lets a test send any Host header, as a DNS-rebound page would). */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

void describe("ui", () => {
  let env: TestEnv;
  let node: NexNode;
  let def: NexClient;
  let ui: ChildProcess;
  let url: string;
  let origin: string;
  let token: string;
  let profile: string;
  let ctx: BrowserContext;
  let page: Page;
  const seedFile = (): string => join(env.dir, "edge-1.seed");
  const cell = (workload: string, column: number) => page.locator(`#workloads tr[data-workload="${workload}"] td`).nth(column);

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium is not installed at ${CHROMIUM}; the dashboard tests need it (apt-get install chromium; .ci/run installs it)`);
    env = await TestEnv.start({ websocket: true, namespaces: ["other"] });
    node = await env.node({ name: "edge-1", seedFile: seedFile() });
    def = await env.client("default");
    await deploy(def, "greeter", GREETER, ["greet"]);
    await deploy(def, "flaky", FLAKY, ["flaky"]);
    for (let i = 0; i < 3; i++) await def.invoke("greet", `caller-${i}`);
    await def.invoke("flaky", "ok");
    await assert.rejects(def.invoke("flaky", "boom"), /boom/);
    const other = await env.client("other");
    await deploy(other, "secret-fn", `() => { console.log("other namespace's secret line"); return "s"; };`, ["secret"]);
    await other.invoke("secret", "");

    ui = env.spawnCli(["ui", "--port", "0", "--ws", env.wsUrl!]);
    url = await dashboardUrl(ui);
    origin = new URL(url).origin;
    token = /#token=([\w-]+)/.exec(url)![1]!;
    profile = mkdtempSync(join(tmpdir(), "nex-chromium-"));
    ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1440, height: 960 } });
    page = await ctx.newPage();
    await page.goto(url);
  });

  after(async () => {
    await ctx?.close().catch(() => undefined);
    await env?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  void test("ui - the page shows the namespace's node and workloads, with rates from successive polls", async () => {
    const nodeRow = page.locator(`#nodes tr[data-node="${node.id}"]`);
    await nodeRow.waitFor({ timeout: 20_000 });
    assert.match(await nodeRow.innerText(), /edge-1[\s\S]*running/);
    await page.locator('#workloads tr[data-workload="greeter"]').waitFor();
    await page.locator('#workloads tr[data-workload="flaky"]').waitFor();
    assert.equal(await page.locator("#ns").innerText(), "default");
    assert.equal(await page.locator("#status").innerText(), "connected");
    assert.ok(!page.url().includes("token"), "the token leaves the address bar once the page has read it");
    // Calls while the page polls: its calls/s comes from the difference between two polls.
    const calls = (async () => {
      for (let i = 0; i < 40; i++) {
        await def.invoke("greet", `rate-${i}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await check(async () => /^(?!0\/s)[\d.]+\/s$/.test(await cell("greeter", 4).innerText()), 15_000, 200);
    await calls;
    await check(async () => Number((await cell("greeter", 6).innerText()).replace(/\D/g, "")) >= 43, 10_000, 200);
    const flaky = await page.locator('#workloads tr[data-workload="flaky"]').innerText();
    assert.match(flaky, /boom: <b id=bold>bad input<\/b>/, "the last error, as text");
  });

  void test("ui - nothing of another namespace reaches the page", async () => {
    await page.locator('#logs li[data-workload="greeter"]').first().waitFor();
    assert.equal(await page.locator('[data-workload="secret-fn"]').count(), 0);
    const text = await page.locator("body").innerText();
    assert.ok(!text.includes("secret-fn") && !text.includes("secret line"), "no workload, log line or event of namespace other");
  });

  void test("ui - clicking a workload shows its instances, triggers, counters, last error and log lines", async () => {
    await page.locator('#workloads button[data-workload="flaky"]').click();
    await page.locator("#detail-name").waitFor();
    assert.equal(await page.locator("#detail-name").innerText(), "flaky");
    assert.equal(await page.locator("#detail-instances tbody tr").count(), 1);
    const detail = await page.locator("#detail").innerText();
    assert.match(detail, /Triggers\s+flaky/);
    assert.match(detail, /Calls\s+2 /);
    assert.match(detail, /Failures\s+1 /);
    assert.match(await page.locator("#detail-error").innerText(), /NEX_E_FUNCTION_ERROR[\s\S]*boom: <b id=bold>bad input<\/b>/);
    await page.locator("#detail-logs li", { hasText: "flaky got ok" }).waitFor();
    assert.equal(await page.locator('#detail-logs li[data-workload="greeter"]').count(), 0, "only the selected workload's lines");
  });

  void test("ui - the dashboard under traffic (the README's screenshot)", async () => {
    const traffic = (async () => {
      for (let i = 0; i < 60; i++) {
        await Promise.allSettled([def.invoke("greet", `caller-${i}`), def.invoke("flaky", i % 10 === 9 ? "boom" : `req-${i}`)]);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const moving = async (workload: string, column: number): Promise<boolean> => /^(?!0\/s)[\d.]+\/s$/.test(await cell(workload, column).innerText());
    await check(async () => (await moving("greeter", 4)) && (await moving("flaky", 4)) && (await moving("flaky", 5)), 15_000, 200);
    await page.locator("#detail-logs li", { hasText: "flaky got req-" }).first().waitFor();
    const shot = join(env.dir, "dashboard.png");
    await page.screenshot({ path: shot, fullPage: true });
    await traffic;
    const png = readFileSync(shot);
    assert.equal(png.subarray(1, 4).toString(), "PNG");
    assert.ok(png.length > 20_000, "the screenshot has content");
    if (process.env["NEX_UPDATE_SCREENSHOT"]) copyFileSync(shot, join(REPO_ROOT, "docs", "dashboard.png"));
  });

  void test("ui - text from NATS is shown as text, never parsed as markup", async () => {
    await page.locator("#logs li", { hasText: '<img src=x onerror="window.__pwned = 1"> flaky got ok' }).waitFor();
    assert.equal(await page.locator("img").count(), 0, "no element was made from a log line");
    assert.equal(await page.locator("b#bold").count(), 0, "nor from an error message");
    assert.equal(await page.evaluate("window.__pwned"), undefined);
  });

  void test("ui - a banner while NATS is away; the page reconnects and shows the node again after it restarts", async () => {
    await node.stop();
    await page.locator("#nodes tr.empty").waitFor({ timeout: 15_000 });
    const restarted = env.restartServer(4_000);
    await page.locator("#banner", { hasText: /unreachable/ }).waitFor({ timeout: 10_000 });
    assert.notEqual(await page.locator("#status").innerText(), "connected");
    await restarted;
    node = await env.node({ name: "edge-1", seedFile: seedFile() });
    await page.locator(`#nodes tr[data-node="${node.id}"]`).waitFor({ timeout: 30_000 });
    await page.locator('#workloads tr[data-workload="greeter"]').waitFor({ timeout: 15_000 });
    assert.equal(await page.locator("#banner").isHidden(), true);
    assert.equal(await page.locator("#status").innerText(), "connected");
    // Live again: a new call's log line arrives.
    await check(async () => (await def.invoke("greet", "after-restart")) && true, 15_000, 200);
    await page.locator("#logs li", { hasText: "hello from greeter to after-restart" }).waitFor({ timeout: 15_000 });
  });

  void test("ui - a banner says so when NATS is unreachable", async () => {
    const deadWs = `ws://127.0.0.1:${await freePort()}`;
    const lonely = env.spawnCli(["ui", "--port", "0", "--ws", deadWs]);
    const p = await ctx.newPage();
    try {
      await p.goto(await dashboardUrl(lonely));
      await p.locator("#banner", { hasText: `NATS is unreachable at ${deadWs}` }).waitFor({ timeout: 15_000 });
      assert.equal(await p.locator("#status").innerText(), "offline");
    } finally {
      await p.close();
      lonely.kill("SIGTERM");
    }
  });

  void test("ui - the server answers only to its loopback name and hands credentials only for its token", async () => {
    const host = new URL(url).host;
    const home = await get(`${origin}/`);
    assert.equal(home.status, 200);
    assert.match(String(home.headers["content-security-policy"]), new RegExp(`connect-src 'self' ${env.wsUrl!.replace(/[.]/g, "\\.")}`));
    assert.equal((await get(`${origin}/`, { Host: `nex.attacker.example:${new URL(url).port}` })).status, 403, "a DNS-rebound name is refused");
    const api = `${origin}/api/connection`;
    assert.equal((await get(api)).status, 401, "no token, no credentials");
    assert.equal((await get(api, { Authorization: "Bearer wrong-token-wrong-token-wrong-token" })).status, 401);
    const auth = { Authorization: `Bearer ${token}` };
    assert.equal((await get(api, { ...auth, Origin: "http://nex.attacker.example" })).status, 403, "another site's origin is refused");
    assert.equal((await get(api, { ...auth, "Sec-Fetch-Site": "cross-site" })).status, 401);
    assert.equal((await get(api, { ...auth, Host: host.replace("127.0.0.1", "localhost") })).status, 200, "localhost names the same listener");
    const ok = await get(api, auth);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers["cache-control"], "no-store");
    const access = JSON.parse(ok.body) as PageAccess;
    assert.equal(access.namespace, "default");
    assert.deepEqual(access.servers, [env.wsUrl]);
    assert.ok(access.jwt && access.seed && access.inboxPrefix && access.expiresAt);
    assert.ok(new Date(access.expiresAt).getTime() > Date.now());

    // The page's user reads its namespace and can change nothing.
    const nc = await connectNats({ servers: [env.server.url], userJwt: { jwt: access.jwt, seed: access.seed }, inboxPrefix: access.inboxPrefix }, "ui-test");
    try {
      const reader = new NexClient(nc, { namespace: "default" });
      assert.deepEqual([...new Set((await reader.list()).map((w) => w.name))].sort(), ["flaky", "greeter"]);
      await assert.rejects(reader.invoke("greet", "x", { timeoutMs: 1_500 }), "it may not invoke functions");
      await assert.rejects(reader.request("STOP", node.id, { name: "greeter" }, 1_500), "it may not stop workloads");
      assert.ok((await def.list()).some((w) => w.name === "greeter"), "greeter still runs");
    } finally {
      await nc.close();
    }
  });

  void test("ui - nex ui refuses a missing namespace and a non-loopback address", async () => {
    const missing = await env.cli(["-n", "nosuch", "ui", "--port", "0"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /NEX_E_NO_NAMESPACE: no namespace nosuch/);
    const wide = await env.cli(["ui", "--port", "0", "--host", "0.0.0.0"]);
    assert.equal(wide.code, 1);
    assert.match(wide.stderr, /NEX_E_INVALID_FIELD: --host: 0\.0\.0\.0 is not a loopback address/);
  });

  void test("ui - nex up serves the dashboard, and --no-ui turns it off", async (t) => {
    const local = { NATS_URL: `nats://127.0.0.1:${await freePort()}`, NEX_HOME: join(env.dir, "up-home") };
    const flags = ["--ws-port", String(await freePort()), "--ui-port", "0", "--data-dir", local.NEX_HOME];
    const up = spawnCli(["up", ...flags], local);
    t.after(() => void (up.exitCode === null && up.signalCode === null && up.kill("SIGKILL")));
    // The dashboard's line comes first, then the node's.
    const upUrl = URL_LINE.exec(await waitForOutput(up, /is up/, 30_000))?.[1];
    assert.ok(upUrl, "nex up printed the dashboard's URL");
    assert.equal((await get(new URL(upUrl).origin + "/")).status, 200);
    up.kill("SIGINT");
    assert.equal((await collect(up, 20_000)).code, 0);

    const quiet = spawnCli(["up", ...flags, "--no-ui"], local);
    t.after(() => void (quiet.exitCode === null && quiet.signalCode === null && quiet.kill("SIGKILL")));
    const out = await waitForOutput(quiet, /is up/, 30_000);
    assert.doesNotMatch(out, /dashboard/);
    quiet.kill("SIGINT");
    assert.equal((await collect(quiet, 20_000)).code, 0);
  });
});
