// Preloaded (NODE_OPTIONS=--import) into the node and, through it, its runner processes: profiles the runner
// (the process whose entry is runner/main) and writes NEX_BENCH_PROF_DIR/runner-PID.cpuprofile when it exits.
// NODE_OPTIONS may not carry --cpu-prof, so the inspector does the same job.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { join } from "node:path";

const dir = process.env.NEX_BENCH_PROF_DIR;
if (dir && /runner[\\/]main\.[jt]s$/.test(process.argv[1] ?? "")) {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", { interval: 200 });
  session.post("Profiler.start");
  process.on("exit", () => {
    // The in-process session answers synchronously, so this works inside an exit handler.
    session.post("Profiler.stop", (err, res) => {
      if (!err) writeFileSync(join(dir, `runner-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
