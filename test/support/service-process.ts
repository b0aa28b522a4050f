import { type ChildProcess, spawn } from "node:child_process";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";

// The real entry point, src/main.ts, as a child process: what an operator runs with `npm start`.

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** Variables the service reads; the test runner's own values must not leak into the child. */
const CONFIG_VARIABLES = new Set([
  "PORT",
  "GRPC_PORT",
  "HOST",
  "STORAGE",
  "DATABASE_URL",
  "DATABASE_POOLER",
  "OTP_LENGTH",
  "OTP_TTL",
  "OTP_MAX_ATTEMPTS",
  "OTP_LOCKOUT",
  "OTP_REQUEST_LIMIT",
  "OTP_IP_REQUEST_LIMIT",
  "SESSION_TTL",
  "OTP_HMAC_KEY",
  "TRUST_PROXY",
  "CORS_ORIGINS",
  "LOG_LEVEL",
  "SHUTDOWN_GRACE",
  "OTP_SENDER",
  "SMTP_URL",
  "OTP_MAIL_FROM",
  "OTP_MAIL_SUBJECT",
  "OTP_MAIL_TEXT_TEMPLATE",
  "OTP_MAIL_HTML_TEMPLATE",
  "OTP_WEBHOOK_URL",
  "OTP_WEBHOOK_SECRET",
  "OTP_SEND_TIMEOUT",
  "ACCESS_TOKEN_KEYS",
  "ACCESS_TOKEN_TTL",
  "ACCESS_TOKEN_ISSUER",
  "ACCESS_TOKEN_AUDIENCE",
  "SERVICE_TOKENS",
  "STATUS_BY_EMAIL",
  "MAX_CONNECTIONS",
  "TLS_CERT_FILE",
  "TLS_KEY_FILE",
]);

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One JSON log entry, parsed. */
export type LogEntry = Record<string, unknown>;

export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first whole stdout line matching `pattern`; rejects if the process ends first. */
  line(pattern: RegExp): Promise<RegExpMatchArray>;
  /** The JSON log entries printed on stdout so far; other lines (codes, "listening") left out. */
  logs(): LogEntry[];
  /** Resolves with the first log entry having every field of `fields`; rejects if the process ends first. */
  log(fields: LogEntry): Promise<LogEntry>;
  /** Resolves once the process has exited and its output is fully read. */
  readonly exited: Promise<Exit>;
}

const children: ChildProcess[] = [];

/** SIGKILLs every service process still running, and whatever it started; call it in afterEach. */
export function killServices(): void {
  for (const child of children.splice(0)) {
    if (child.pid !== undefined && groupAlive(child.pid)) {
      process.kill(-child.pid, "SIGKILL");
    }
  }
}

/** Whether any process is left in the process group that `pid` led (spawnService's children). */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") {
      return false;
    }
    throw error;
  }
}

/**
 * How the service is started: a program, its arguments and the directory it runs in. The default
 * runs src/main.ts through tsx's loader in this process's node (what `npm start` runs, without npm).
 */
export interface Launch {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
}

const TSX_LAUNCH: Launch = {
  command: process.execPath,
  args: ["--import", "tsx", "src/main.ts"],
  cwd: repoRoot,
};

/**
 * Starts the service with `env` (PORT 0 and HOST 127.0.0.1 unless set). The child leads its own
 * process group, so that a test can tell whether anything it started is left (`groupAlive`),
 * while signals still go to its PID alone.
 */
export function spawnService(
  env: Record<string, string>,
  launch: Launch = TSX_LAUNCH,
): ServiceProcess {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !CONFIG_VARIABLES.has(name)),
  );
  const child = spawn(launch.command, [...launch.args], {
    cwd: launch.cwd,
    // Port 0 for both doors: many services run at once, and 50051 may be anyone's.
    env: { ...inherited, PORT: "0", GRPC_PORT: "0", HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  children.push(child);
  let out = "";
  let err = "";
  let ended = false;
  const watchers = new Set<() => void>();
  const notify = () => {
    for (const watcher of watchers) {
      watcher();
    }
  };
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
    notify();
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk;
  });
  // "close" comes after "exit" and after stdout and stderr have ended.
  const exited = new Promise<Exit>((resolve) => {
    child.once("close", (code: number | null, signal: NodeJS.Signals | null) => {
      ended = true;
      resolve({ code, signal });
      notify();
    });
  });

  /** Resolves with what `find` finds in the whole lines printed so far, once it finds it. */
  const waitFor = <T>(find: (lines: string) => T | null | undefined, what: string) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const found = find(out.slice(0, out.lastIndexOf("\n") + 1));
        if (found !== null && found !== undefined) {
          watchers.delete(check);
          resolve(found);
        } else if (ended) {
          watchers.delete(check);
          reject(new Error(`exited without printing ${what}; stderr:\n${err}`));
        }
      };
      watchers.add(check);
      check();
    });
  const logsIn = (lines: string): LogEntry[] =>
    lines
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as LogEntry);

  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    line(pattern) {
      const wholeLine = new RegExp(`^${pattern.source}$`, "m");
      return waitFor((lines) => lines.match(wholeLine), `/${pattern.source}/`);
    },
    logs: () => logsIn(out.slice(0, out.lastIndexOf("\n") + 1)),
    log(fields) {
      return waitFor(
        (lines) =>
          logsIn(lines).find((entry) =>
            Object.entries(fields).every(([name, value]) => entry[name] === value),
          ),
        `a log entry with ${JSON.stringify(fields)}`,
      );
    },
  };
}

/**
 * Starts the service and waits for its "listening" line; resolves with the process, its port and
 * the grpc-js door's port (null with GRPC_PORT=off), printed before it.
 */
export async function startService(env: Record<string, string> = {}, launch?: Launch) {
  const service = spawnService(env, launch);
  const [, port] = await service.line(/otp-auth listening on 127\.0\.0\.1:(\d+) \(.*\)/);
  const grpcLine = /^otp-auth grpc-js listening on 127\.0\.0\.1:(\d+) /m.exec(service.stdout());
  return { service, port: Number(port), grpcPort: grpcLine === null ? null : Number(grpcLine[1]) };
}

/** Waits for the console sender's line for `otpId` and returns the code in it. */
export async function codeFromConsole(service: ServiceProcess, otpId: string): Promise<string> {
  const escaped = otpId.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const [, code] = await service.line(
    new RegExp(`otp: (\\d+) for \\S+ \\(purpose \\S+, id ${escaped}, expires \\S+\\)`),
  );
  return code as string;
}

/**
 * Resolves with the error code of a TCP connection attempt to 127.0.0.1:`port` (ECONNREFUSED once
 * a draining service stops accepting), or "connected".
 */
export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}
