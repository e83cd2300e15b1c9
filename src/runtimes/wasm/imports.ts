/**
 * The `nex` imports, inside a worker. Each call reads its arguments out of linear memory, makes one synchronous
 * host call, and keeps the answer as the instance's "pending result": a data call returns its length, and
 * `result_read` copies the bytes into a buffer the module sized for it. Errors return a negative status and leave
 * the error message as the pending result, so a module can always say why.
 */
import { NexStatus, type HostReply, type HostRequest } from "./abi.js";
import type { WasmMemory } from "./wasm-api.js";

/** Makes one host call and blocks until its reply is there. */
export type SyncHostCall = (req: HostRequest) => HostReply;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const enc = new TextEncoder();

/** Thrown by argument readers; becomes NexStatus.INVALID. */
class BadArgument extends Error {}

/** Builds the `nex` import object for one instance. `memory()` is only called once the instance exists. */
export function nexImports(memory: () => WasmMemory, host: SyncHostCall): Record<string, (...args: number[]) => number> {
  let pending: Uint8Array = new Uint8Array(0);

  const bytes = (ptr: number, len: number, what: string): Uint8Array => {
    const buf = memory().buffer;
    const p = ptr >>> 0;
    const n = len >>> 0;
    if (p + n > buf.byteLength) throw new BadArgument(`${what}: pointer ${p} + length ${n} is outside the module's memory`);
    return new Uint8Array(buf, p, n).slice();
  };
  const str = (ptr: number, len: number, what: string): string => {
    try {
      return utf8.decode(bytes(ptr, len, what));
    } catch (err) {
      if (err instanceof BadArgument) throw err;
      throw new BadArgument(`${what} is not valid UTF-8`);
    }
  };

  /** Runs one import: argument errors and host errors both end as a status plus a message. */
  const call = (build: () => HostRequest, after?: (r: HostReply) => void): number => {
    let reply: HostReply;
    try {
      reply = host(build());
    } catch (err) {
      if (!(err instanceof BadArgument)) throw err;
      pending = enc.encode(err.message);
      return NexStatus.INVALID;
    }
    pending = reply.data;
    after?.(reply);
    return reply.status;
  };

  return {
    kv_get: (bp: number, bl: number, kp: number, kl: number) =>
      call(() => ({ op: "kv.get", args: [str(bp, bl, "bucket"), str(kp, kl, "key")] })),
    kv_set: (bp: number, bl: number, kp: number, kl: number, vp: number, vl: number) =>
      call(() => ({ op: "kv.set", args: [str(bp, bl, "bucket"), str(kp, kl, "key"), bytes(vp, vl, "value")] })),
    kv_delete: (bp: number, bl: number, kp: number, kl: number) =>
      call(() => ({ op: "kv.delete", args: [str(bp, bl, "bucket"), str(kp, kl, "key")] })),
    kv_keys: (bp: number, bl: number, fp: number, fl: number) =>
      call(() => ({ op: "kv.keys", args: [str(bp, bl, "bucket"), str(fp, fl, "filter")] })),
    obj_get: (bp: number, bl: number, np: number, nl: number) =>
      call(() => ({ op: "obj.get", args: [str(bp, bl, "bucket"), str(np, nl, "name")] })),
    obj_put: (bp: number, bl: number, np: number, nl: number, dp: number, dl: number) =>
      call(() => ({ op: "obj.put", args: [str(bp, bl, "bucket"), str(np, nl, "name"), bytes(dp, dl, "data")] })),
    publish: (sp: number, sl: number, dp: number, dl: number) =>
      call(() => ({ op: "msg.publish", args: [str(sp, sl, "subject"), bytes(dp, dl, "data")] })),
    request: (sp: number, sl: number, dp: number, dl: number, timeoutMs: number) =>
      call(() => ({ op: "msg.request", args: [str(sp, sl, "subject"), bytes(dp, dl, "data"), timeoutMs >>> 0 || undefined] })),
    http: (mp: number, ml: number, up: number, ul: number, hp: number, hl: number, bp: number, bl: number, statusPtr: number) => {
      // Check the out-pointer before the call, so a bad pointer never loses a response.
      const sp = statusPtr >>> 0;
      return call(
        () => {
          if (sp + 4 > memory().buffer.byteLength) throw new BadArgument(`status pointer ${sp} is outside the module's memory`);
          return { op: "http", args: [str(mp, ml, "method"), str(up, ul, "url"), parseHeaders(str(hp, hl, "headers")), bytes(bp, bl, "body")] };
        },
        (r) => new DataView(memory().buffer).setUint32(sp, r.httpStatus ?? 0, true),
      );
    },
    result_len: () => pending.length,
    result_read: (ptr: number, len: number) => {
      const p = ptr >>> 0;
      const n = Math.min(len >>> 0, pending.length);
      const buf = memory().buffer;
      if (p + n > buf.byteLength) return NexStatus.INVALID;
      new Uint8Array(buf, p, n).set(pending.subarray(0, n));
      return n;
    },
  };
}

/** Parses "Name: value" lines (the ABI's header format) into an object. */
export function parseHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}
