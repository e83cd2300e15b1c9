import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createUser } from "@nats-io/nkeys";
import { TestEnv, collect, spawnCli, waitForOutput } from "../src/testkit/index.js";

const FN = "(s, p) => 'auth:' + p.length";

describe("connection options", () => {
  test("connection - user and password work for the node, its runners and the CLI", async () => {
    const env = await TestEnv.start({
      extraConfig: () => `authorization { user: nex, password: "s3cret pass" }`,
      connection: { user: "nex", password: "s3cret pass" },
    });
    try {
      await env.node();
      const client = await env.client();
      await env.deployJs(client, "authfn", FN, ["authfn"]);
      assert.equal((await client.invoke("authfn", "abc")).string(), "auth:3");
      const ok = await collect(spawnCli(["req", "authfn", "ab", "--user", "nex", "--password", "s3cret pass"], { NATS_URL: env.server.url }), 20_000);
      assert.equal(ok.stdout, "auth:2\n", ok.stderr);
      const denied = await collect(spawnCli(["req", "authfn", "ab"], { NATS_URL: env.server.url }), 20_000);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /cannot connect to NATS/);
    } finally {
      await env.stop();
    }
  });

  test("connection - a token works", async () => {
    const env = await TestEnv.start({ extraConfig: () => `authorization { token: "t0ken" }`, connection: { token: "t0ken" } });
    try {
      await env.node();
      const client = await env.client();
      await env.deployJs(client, "tokfn", FN, ["tokfn"]);
      const r = await collect(spawnCli(["req", "tokfn", "x", "--token", "t0ken"], { NATS_URL: env.server.url }), 20_000);
      assert.equal(r.stdout, "auth:1\n", r.stderr);
    } finally {
      await env.stop();
    }
  });

  test("connection - an nkey seed file works", async () => {
    const kp = createUser();
    const pub = kp.getPublicKey();
    let seedFile = "";
    const env = await TestEnv.start({
      extraConfig: (dir) => {
        seedFile = join(dir, "user.nk");
        writeFileSync(seedFile, new TextDecoder().decode(kp.getSeed()));
        return `authorization { users: [ { nkey: ${pub} } ] }`;
      },
    });
    try {
      const node = env.spawnCli(["node", "up", "--nkey", seedFile, "--data-dir", join(env.dir, "n")]);
      await waitForOutput(node, /is up/);
      const f = env.file("nk.js", FN).replace("file://", "");
      const dev = await env.cli(["devrun", f, "--trigger-subject", "nkfn", "--nkey", seedFile]);
      assert.equal(dev.code, 0, dev.stderr);
      const r = await env.cli(["req", "nkfn", "xyz", "--nkey", seedFile]);
      assert.equal(r.stdout, "auth:3\n", r.stderr);
    } finally {
      await env.stop();
    }
  });

  test("connection - TLS with a CA, client certificate and key", async () => {
    let dir = "";
    const env = await TestEnv.start({
      extraConfig: (d) => {
        dir = d;
        makeCerts(d);
        return `tls { cert_file: "${join(d, "server.pem")}", key_file: "${join(d, "server-key.pem")}", ca_file: "${join(d, "ca.pem")}", verify: true }`;
      },
    });
    try {
      const tlsFlags = ["--tlsca", join(dir, "ca.pem"), "--tlscert", join(dir, "client.pem"), "--tlskey", join(dir, "client-key.pem")];
      const url = env.server.url.replace("nats://", "tls://");
      const node = env.spawnCli(["node", "up", "--data-dir", join(env.dir, "n"), "-s", url, ...tlsFlags]);
      await waitForOutput(node, /is up/);
      const f = env.file("tls.js", FN).replace("file://", "");
      const dev = await env.cli(["devrun", f, "--trigger-subject", "tlsfn", "-s", url, ...tlsFlags]);
      assert.equal(dev.code, 0, dev.stderr);
      const r = await env.cli(["req", "tlsfn", "abcd", "-s", url, ...tlsFlags]);
      assert.equal(r.stdout, "auth:4\n", r.stderr);
      const noCert = await env.cli(["req", "tlsfn", "abcd", "-s", url, "--tlsca", join(dir, "ca.pem")]);
      assert.equal(noCert.code, 1, "a client without a certificate is refused");
    } finally {
      await env.stop();
    }
  });
});

/** A throwaway CA plus server and client certificates for 127.0.0.1. */
function makeCerts(d: string): void {
  const run = (...args: string[]): void => void execFileSync("openssl", args, { cwd: d, stdio: "ignore" });
  run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=nex-test-ca", "-keyout", "ca-key.pem", "-out", "ca.pem");
  writeFileSync(join(d, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  for (const who of ["server", "client"]) {
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${who}`, "-keyout", `${who}-key.pem`, "-out", `${who}.csr`);
    run("x509", "-req", "-in", `${who}.csr`, "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", `${who}.pem`);
  }
}
