/** Native services and jobs. */
import { NexError, type WorkloadSpec } from "../../contract/index.js";
import type { ArtifactRef, Runtime, RuntimeHost, WorkloadHandle } from "../runtime.js";

/** Runs native executables as supervised child processes. */
export class NativeRuntime implements Runtime {
  readonly type = "native" as const;
  constructor(private readonly _host: RuntimeHost) {}
  async deploy(_spec: WorkloadSpec, _artifact: ArtifactRef): Promise<WorkloadHandle> {
    throw new NexError("NEX_E_UNSUPPORTED_TYPE", "native workloads are not available yet");
  }
  async close(): Promise<void> {}
}
