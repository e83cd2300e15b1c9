import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { NODE_DEFAULTS } from "../src/node/options.js";
import { DEFAULT_LOG_LIMITS } from "../src/runtimes/engine.js";
import { CUT_MARKER, LogLimiter, cut } from "../src/runner/logs.js";
import { check } from "../src/testkit/index.js";

const LIMITS = { linesPerInvocation: 3, bytesPerSecond: 100, lineBytes: 40 };

function limiter(limits = LIMITS): { logs: LogLimiter; out: string[]; clock: { t: number } } {
  const out: string[] = [];
  const clock = { t: 10_000 };
  const logs = new LogLimiter(limits, (_stream, line) => void out.push(line), () => clock.t);
  return { logs, out, clock };
}

const notices = (out: string[]): number[] => out.flatMap((l) => /^\[nex\] (\d+) log lines? dropped/.exec(l)?.[1] ?? []).map(Number);

void describe("log caps", () => {
  void test("logs - lines over the per-invocation cap are dropped, counted, and announced once when the invocation settles", () => {
    const { logs, out } = limiter();
    logs.begin();
    for (let i = 0; i < 10; i++) logs.line("stdout", `l${i}`);
    assert.deepEqual(out, ["l0", "l1", "l2"], "nothing is announced before the invocation settles");
    logs.end();
    assert.deepEqual(notices(out), [7]);
    logs.begin();
    logs.line("stdout", "next");
    logs.end();
    assert.deepEqual(out.slice(4), ["next"], "the next invocation starts with its own allowance, and drops nothing");
  });

  void test("logs - overlapping invocations share one allowance of lines per running invocation", () => {
    const { logs, out } = limiter();
    logs.begin();
    logs.begin();
    for (let i = 0; i < 8; i++) logs.line("stdout", `l${i}`);
    logs.end();
    logs.end();
    assert.equal(out.filter((l) => !l.startsWith("[nex]")).length, 6);
    assert.deepEqual(notices(out), [2], "the first to settle announces what was dropped so far; the second has nothing to add");
  });

  void test("logs - bytes per second are capped per function, and the window moves on", () => {
    const { logs, out, clock } = limiter({ linesPerInvocation: 1_000, bytesPerSecond: 100, lineBytes: 1_000 });
    logs.begin();
    for (let i = 0; i < 5; i++) logs.line("stdout", "x".repeat(30));
    assert.equal(out.length, 3, "90 of 100 bytes; the 4th line would pass the cap");
    clock.t += 1_000;
    logs.line("stdout", "y".repeat(30));
    logs.end();
    assert.deepEqual(out.slice(3, 4), ["y".repeat(30)]);
    assert.deepEqual(notices(out), [2]);
  });

  void test("logs - drops reported by an engine join the notice; outside invocations the window's end announces them", async () => {
    const { logs, out } = limiter();
    logs.begin();
    logs.dropped(41);
    logs.dropped(-1);
    logs.dropped(Number.NaN);
    logs.end();
    assert.deepEqual(notices(out), [41]);
    for (let i = 0; i < 5; i++) logs.line("stderr", "top-level");
    assert.deepEqual(notices(out), [41]);
    await check(() => notices(out).length === 2, 5_000);
    assert.deepEqual(notices(out), [41, 2], "lines logged while no invocation ran are announced at the end of their window");
    logs.close();
  });

  void test("logs - a long line is cut to the byte cap on a character boundary and ends with the marker", () => {
    assert.equal(cut("short", 40), "short");
    const ascii = cut("a".repeat(100), 40);
    assert.equal(Buffer.byteLength(ascii), 40);
    assert.ok(ascii.endsWith(CUT_MARKER));
    const wide = cut("€".repeat(100), 40);
    assert.ok(Buffer.byteLength(wide) <= 40);
    assert.ok(wide.startsWith("€") && wide.endsWith(CUT_MARKER) && !wide.includes("\ufffd"));
    const { logs, out } = limiter();
    logs.line("stdout", "b".repeat(1_000));
    assert.equal(Buffer.byteLength(out[0]!), 40);
  });

  void test("logs - the engines' fallback caps are the node's defaults", () => {
    assert.deepEqual(DEFAULT_LOG_LIMITS, {
      linesPerInvocation: NODE_DEFAULTS.logLinesPerInvocation,
      bytesPerSecond: NODE_DEFAULTS.logBytesPerSecond,
      lineBytes: NODE_DEFAULTS.logLineBytes,
    });
  });
});
