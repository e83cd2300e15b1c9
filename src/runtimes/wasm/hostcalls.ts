/**
 * The runner side of the `nex` imports: one HostServices call per request, and errors mapped to ABI statuses.
 * The message travels with the status, so a module can log exactly what the service said.
 */
import type { HostServices, HttpMethod } from "../../hostservices/index.js";
import { HTTP_METHODS } from "../../hostservices/index.js";
import { NexStatus, type HostReply, type HostRequest } from "./abi.js";

const enc = new TextEncoder();
const EMPTY = new Uint8Array(0);

function ok(data: Uint8Array = EMPTY): HostReply {
  return { status: data.length, data };
}

function failed(status: number, message: string): HostReply {
  return { status, data: enc.encode(message) };
}

/** Maps a HostServices error to the status a module sees. */
export function statusOf(message: string): number {
  if (/no responders/i.test(message)) return NexStatus.NO_RESPONDERS;
  if (/timed? ?out|timeout/i.test(message)) return NexStatus.TIMEOUT;
  if (/invalid|reserved|unsupported method|only http/i.test(message)) return NexStatus.INVALID;
  return NexStatus.FAILED;
}

async function perform(hs: HostServices, req: HostRequest): Promise<HostReply> {
  switch (req.op) {
    case "kv_get": {
      const v = await hs.kvGet(req.bucket, req.key);
      return v === null ? failed(NexStatus.NOT_FOUND, `kv: key "${req.key}" not found in bucket "${req.bucket}"`) : ok(v);
    }
    case "kv_set":
      await hs.kvSet(req.bucket, req.key, req.value);
      return ok();
    case "kv_delete":
      await hs.kvDelete(req.bucket, req.key);
      return ok();
    case "kv_keys": {
      const keys = await hs.kvKeys(req.bucket, req.filter === "" ? undefined : req.filter);
      return ok(enc.encode(keys.join("\n")));
    }
    case "obj_get": {
      const v = await hs.objGet(req.bucket, req.name);
      return v === null ? failed(NexStatus.NOT_FOUND, `objectStore: object "${req.name}" not found in bucket "${req.bucket}"`) : ok(v);
    }
    case "obj_put":
      await hs.objPut(req.bucket, req.name, req.data);
      return ok();
    case "publish":
      await hs.publish(req.subject, req.data);
      return ok();
    case "request":
      return ok(await hs.request(req.subject, req.data, req.timeoutMs > 0 ? req.timeoutMs : undefined));
    case "http": {
      const method = req.method.toLowerCase();
      if (!HTTP_METHODS.includes(method as HttpMethod)) return failed(NexStatus.INVALID, `http: unsupported method "${req.method}"`);
      const r = await hs.httpBytes(method as HttpMethod, req.url, req.body, { headers: req.headers });
      return { ...ok(r.body), httpStatus: r.status };
    }
  }
}

/** Runs one host call; never rejects. */
export async function hostCall(hs: HostServices, req: HostRequest): Promise<HostReply> {
  try {
    return await perform(hs, req);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return failed(statusOf(message), message);
  }
}
