/**
 * The runner side of the `nex` imports: one call of the shared host-service table per request, with results and
 * failures encoded as ABI statuses. The message travels with the status, so a module can log exactly what the
 * service said.
 */
import { callHost, failureOf, type HostFailure, type HostServices } from "../../hostservices/index.js";
import { NexStatus, type HostReply, type HostRequest } from "./abi.js";

const enc = new TextEncoder();
const EMPTY = new Uint8Array(0);

function ok(data: Uint8Array = EMPTY): HostReply {
  return { status: data.length, data };
}

function failed(status: number, message: string): HostReply {
  return { status, data: enc.encode(message) };
}

const STATUS: Record<HostFailure, number> = {
  not_found: NexStatus.NOT_FOUND,
  invalid: NexStatus.INVALID,
  denied: NexStatus.DENIED,
  no_responders: NexStatus.NO_RESPONDERS,
  timeout: NexStatus.TIMEOUT,
  limit: NexStatus.LIMIT,
  failed: NexStatus.FAILED,
};

async function perform(hs: HostServices, req: HostRequest): Promise<HostReply> {
  const [bucket, key] = req.args as [string, string];
  switch (req.op) {
    case "kv.get": {
      const v = await callHost(hs, "kv.get", req.args);
      return v === null ? failed(NexStatus.NOT_FOUND, `kv: key "${key}" not found in bucket "${bucket}"`) : ok(v);
    }
    case "obj.get": {
      const v = await callHost(hs, "obj.get", req.args);
      return v === null ? failed(NexStatus.NOT_FOUND, `objectStore: object "${key}" not found in bucket "${bucket}"`) : ok(v);
    }
    case "kv.keys":
      return ok(enc.encode((await callHost(hs, "kv.keys", req.args)).join("\n")));
    case "msg.request":
      return ok(await callHost(hs, "msg.request", req.args));
    case "http": {
      const r = await callHost(hs, "http", req.args);
      return { ...ok(r.body), httpStatus: r.status };
    }
    default:
      await callHost(hs, req.op, req.args);
      return ok();
  }
}

/** Runs one host call; never rejects. */
export async function hostCall(hs: HostServices, req: HostRequest): Promise<HostReply> {
  try {
    return await perform(hs, req);
  } catch (err) {
    return failed(STATUS[failureOf(err)], err instanceof Error ? err.message : String(err));
  }
}
