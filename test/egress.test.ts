import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { lookup } from "node:dns/promises";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { NexError } from "../src/contract/index.js";
import { EgressPolicy } from "../src/hostservices/egress.js";
import { httpRequest } from "../src/hostservices/http.js";
import type { HttpResponse } from "../src/hostservices/index.js";
import { resolveNodeOptions } from "../src/node/options.js";

const MiB = 1_048_576;

/** A loopback server that records the paths it was asked for. */
async function server(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ port: number; paths: string[]; close(): Promise<void> }> {
  const paths: string[] = [];
  const s: Server = createServer((req, res) => {
    paths.push(req.url ?? "/");
    handler(req, res);
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return {
    port: (s.address() as AddressInfo).port,
    paths,
    close: async () => {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}

function get(url: string, allow: string[] = [], maxBodyBytes = 16 * MiB): Promise<HttpResponse> {
  return httpRequest({ method: "get", url }, { timeoutMs: 10_000, maxBodyBytes, egress: new EgressPolicy(allow) });
}

/** The reason of the host-service failure `p` rejects with. */
async function reasonOf(p: Promise<unknown>): Promise<{ reason: string; message: string }> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof NexError, String(err));
    assert.equal(err.code, "NEX_E_HOST_SERVICE");
    return { reason: String(err.reason), message: err.message };
  }
  throw new Error("the call did not fail");
}

/** Names in /etc/hosts (other than localhost names) that resolve to a loopback address. */
async function loopbackNamesInHosts(): Promise<string[]> {
  let text: string;
  try {
    text = readFileSync("/etc/hosts", "utf8");
  } catch {
    return [];
  }
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const [addr, ...rest] = line.replace(/#.*/, "").trim().split(/\s+/);
    if (!addr || !(addr.startsWith("127.") || addr === "::1")) continue;
    for (const n of rest) if (n && n !== "localhost" && !n.endsWith(".localhost")) names.add(n);
  }
  const out: string[] = [];
  for (const n of names) {
    const found = await lookup(n, { all: true }).catch(() => []);
    if (found.length > 0 && found.every((a) => a.address.startsWith("127.") || a.address === "::1")) out.push(n);
  }
  return out;
}

void describe("egress", () => {
  let target: Awaited<ReturnType<typeof server>>;

  before(async () => {
    target = await server((_req, res) => res.end("reached"));
  });
  after(async () => target.close());

  void test("egress - every spelling of a loopback address is refused by default, and nothing is sent", async () => {
    const p = target.port;
    const spellings = [
      `http://127.0.0.1:${p}/a`, `http://127.1:${p}/b`, `http://2130706433:${p}/c`, `http://0x7f000001:${p}/d`,
      `http://0177.0.0.1:${p}/e`, `http://0x7f.0.0.1:${p}/f`, `http://127.0.0.2:${p}/g`, `http://[::1]:${p}/h`,
      `http://[::ffff:7f00:1]:${p}/i`, `http://[::ffff:127.0.0.1]:${p}/j`, `http://[0:0:0:0:0:ffff:7f00:1]:${p}/k`,
      `http://[::127.0.0.1]:${p}/l`, `http://[64:ff9b::7f00:1]:${p}/m`, `http://[2002:7f00:1::]:${p}/n`,
      `https://127.0.0.1:${p}/o`,
    ];
    for (const url of spellings) {
      const r = await reasonOf(get(url));
      assert.equal(r.reason, "denied", `${url}: ${r.message}`);
      assert.match(r.message, /refused: .* is a loopback address/, url);
    }
    assert.deepEqual(target.paths, [], "the server was never reached");
  });

  void test("egress - private, link-local, metadata, multicast, unspecified and broadcast addresses are refused", async () => {
    const urls = {
      "http://10.1.2.3/": /private/, "http://172.16.0.1/": /private/, "http://192.168.1.1/": /private/,
      "http://100.64.0.1/": /CGNAT/, "http://169.254.169.254/latest/meta-data/": /link-local/, "http://[fe80::1]/": /link-local/,
      "http://[fc00::1]/": /unique-local/, "http://[fd12:3456::1]/": /unique-local/, "http://224.0.0.1/": /multicast/,
      "http://[ff02::1]/": /multicast/, "http://0.0.0.0/": /unspecified/, "http://[::]/": /unspecified/,
      "http://255.255.255.255/": /broadcast/, "http://[::ffff:10.0.0.1]/": /private address in IPv6 form/,
      "http://[::ffff:169.254.169.254]/": /link-local/,
    };
    for (const [url, why] of Object.entries(urls)) {
      const r = await reasonOf(get(url));
      assert.equal(r.reason, "denied", url);
      assert.match(r.message, why, url);
    }
  });

  void test("egress - names that resolve to loopback are refused: localhost, *.localhost and names in /etc/hosts", async (t) => {
    for (const name of ["localhost", "LOCALHOST.", "api.localhost"]) {
      const r = await reasonOf(get(`http://${name}:${target.port}/`));
      assert.equal(r.reason, "denied", name);
    }
    const fromHosts = await loopbackNamesInHosts();
    if (fromHosts.length === 0) t.diagnostic("no name in /etc/hosts resolves to a loopback address here");
    for (const name of fromHosts) {
      const r = await reasonOf(get(`http://${name}:${target.port}/`));
      assert.equal(r.reason, "denied", name);
      assert.match(r.message, new RegExp(`${name} \\((127\\.|::1)`), "the message names the resolved address");
    }
    assert.deepEqual(target.paths, []);
  });

  void test("egress - the allow list opens exactly what it names: an address, an address and port, a CIDR, a name", async () => {
    const other = await server((_req, res) => res.end("other"));
    try {
      const p = target.port;
      assert.equal((await get(`http://127.0.0.1:${p}/ok`, ["127.0.0.1"])).status, 200);
      assert.equal((await get(`http://127.0.0.1:${p}/port`, [`127.0.0.1:${p}`])).status, 200);
      assert.equal((await reasonOf(get(`http://127.0.0.1:${other.port}/`, [`127.0.0.1:${p}`]))).reason, "denied", "another port stays closed");
      assert.equal((await reasonOf(get(`http://127.0.0.2:${p}/`, ["127.0.0.1"]))).reason, "denied", "another loopback address stays closed");
      assert.equal((await get(`http://[::ffff:127.0.0.1]:${p}/mapped`, ["127.0.0.1"])).status, 200, "the IPv6 form of an allowed address");
      assert.equal((await get(`http://127.0.0.1:${p}/cidr`, ["127.0.0.0/8"])).status, 200);
      assert.equal((await reasonOf(get(`http://localhost:${p}/`, ["127.0.0.1"]))).reason, "denied", "a name is opened by name only");
      assert.equal((await get(`http://localhost:${p}/name`, ["localhost"])).status, 200);
      assert.deepEqual(target.paths, ["/ok", "/port", "/mapped", "/cidr", "/name"]);
      assert.deepEqual(other.paths, []);
    } finally {
      await other.close();
    }
  });

  void test("egress - every redirect hop is checked: a hop to a refused address or port is refused and never sent", async () => {
    const other = await server((_req, res) => res.end("other"));
    const hops = await server((req, res) => {
      const to: Record<string, string> = {
        "/to-127.0.0.2": `http://127.0.0.2:${other.port}/x`,
        "/to-other-port": `http://127.0.0.1:${other.port}/y`,
        "/to-localhost": `http://localhost:${other.port}/z`,
        "/to-metadata": "http://169.254.169.254/latest/meta-data/",
        "/relative": "/final",
        "/loop": "/loop",
      };
      const location = to[req.url ?? ""];
      if (location) res.writeHead(302, { location }).end();
      else res.end("final");
    });
    try {
      const allow = [`127.0.0.1:${hops.port}`];
      for (const path of ["/to-127.0.0.2", "/to-other-port", "/to-localhost", "/to-metadata"]) {
        const r = await reasonOf(get(`http://127.0.0.1:${hops.port}${path}`, allow));
        assert.equal(r.reason, "denied", path);
        assert.match(r.message, /\(redirected to .*\) refused/, path);
      }
      assert.deepEqual(other.paths, [], "no refused hop was sent");
      const ok = await get(`http://127.0.0.1:${hops.port}/relative`, allow);
      assert.deepEqual([ok.status, Buffer.from(ok.body).toString()], [200, "final"], "an allowed redirect is followed");
      const loop = await reasonOf(get(`http://127.0.0.1:${hops.port}/loop`, allow));
      assert.match(loop.message, /more than 10 redirects/);
      assert.equal(hops.paths.filter((p) => p === "/loop").length, 11, "the first request and 10 redirects");
    } finally {
      await Promise.all([other.close(), hops.close()]);
    }
  });

  void test("egress - a response far larger than the cap is aborted while streaming, never buffered", async (t) => {
    const total = 1.5 * 1024 * MiB;
    let sent = 0;
    const chunk = Buffer.alloc(MiB, 0x61);
    const flood = await server((req, res) => {
      if (req.url === "/declared") {
        res.writeHead(200, { "content-length": String(total) });
        res.write(chunk);
        return;
      }
      if (req.url === "/gzip") {
        res.writeHead(200, { "content-encoding": "gzip" }).end(gzipSync(Buffer.alloc(64 * MiB)));
        return;
      }
      const pump = (): void => {
        while (sent < total && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
    });
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    try {
      const allow = [`127.0.0.1:${flood.port}`];
      const streamed = await reasonOf(get(`http://127.0.0.1:${flood.port}/stream`, allow));
      assert.equal(streamed.reason, "limit");
      assert.match(streamed.message, /larger than the 16777216-byte limit/);
      const declared = await reasonOf(get(`http://127.0.0.1:${flood.port}/declared`, allow));
      assert.match(declared.message, /response body is 1610612736 bytes/);
      const gzip = await reasonOf(get(`http://127.0.0.1:${flood.port}/gzip`, allow));
      assert.equal(gzip.reason, "limit", "the cap counts decompressed bytes");
    } finally {
      clearInterval(sampler);
      await flood.close();
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    t.diagnostic(`peak RSS ${Math.round(peak / MiB)} MiB; the server sent ${Math.round(sent / MiB)} MiB of the ${total / MiB} MiB it offered`);
    assert.ok(sent < total / 4, `the server could send only ${sent} of ${total} bytes before the client hung up`);
    assert.ok(peak < 400 * MiB, `peak RSS ${Math.round(peak / MiB)} MiB while a 1.5 GiB body was offered`);
  });

  void test("egress - allow-list entries are checked when the node resolves its options", () => {
    const opts = (allowEgress: string[]) => resolveNodeOptions({ connection: { servers: ["nats://127.0.0.1:4222"] }, sandbox: false, allowEgress });
    assert.deepEqual(opts(["127.0.0.1", "10.0.0.0/8", "[::1]:8080", "DB.Internal", "*.corp.example", "svc:443"]).allowEgress, [
      "127.0.0.1", "10.0.0.0/8", "[::1]:8080", "db.internal", "*.corp.example", "svc:443",
    ]);
    for (const bad of ["", "10.0.0.0/33", "host:0", "host:99999", "bad name!", "[::1", "1.2.3.4/x"]) {
      assert.throws(() => opts([bad]), (e: unknown) => e instanceof NexError && e.code === "NEX_E_INVALID_FIELD" && /allow-egress/.test(e.message), bad);
    }
  });
});
