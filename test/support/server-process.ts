import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";

/**
 * Spawns a test server (`name` for messages) and resolves once `accepts()` says it takes
 * connections. Throws, with what the server wrote to stderr, if it exits first or does not accept
 * within `patienceMs` (then it is killed).
 */
export async function spawnServer(
  name: string,
  command: { file: string; args: string[]; options: SpawnOptions },
  accepts: () => Promise<boolean>,
  patienceMs: number,
): Promise<ChildProcess> {
  const proc = spawn(command.file, command.args, {
    ...command.options,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  proc.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const deadline = Date.now() + patienceMs;
  for (;;) {
    if (proc.exitCode !== null) {
      throw new Error(`${name} exited with ${proc.exitCode} while starting:\n${stderr}`);
    }
    if (await accepts()) {
      return proc;
    }
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(
        `${name} did not accept connections within ${patienceMs / 1000}s:\n${stderr}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Signals a server to stop and resolves when it has exited (at once if it is not running). */
export async function stopServer(proc: ChildProcess | null, signal: NodeJS.Signals): Promise<void> {
  if (proc === null || proc.exitCode !== null || proc.signalCode !== null) {
    return;
  }
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  proc.kill(signal);
  await exited;
}
