import type { SenderConfig } from "../delivery/create-sender.js";
import { defaultPolicy, type Policy, type VerifyBinding } from "../domain/policy.js";
import { LOG_LEVELS, type LogLevel } from "../observability/logger.js";
import { HostListError, parseHostList } from "../storage/postgres/host-list.js";
import { type AccessTokenConfig, loadAccessTokenConfig } from "./access-token-config.js";
import { type Env, read } from "./env.js";
import {
  ConfigError,
  parseAddressList,
  parseDuration,
  parseInteger,
  parseOriginList,
  parseRateLimit,
} from "./parse-values.js";
import { loadSenderConfig } from "./sender-config.js";
import { DEFAULT_SERVE_LIMITS, type ServeLimits } from "./serve-limits.js";
import { loadStatusLookupConfig } from "./status-lookup-config.js";
import { parseTlsFiles, type TlsFiles } from "./tls-files.js";

/** Everything the service reads from its environment. */
export interface Config {
  readonly port: number;
  /** The grpc-js door's port (GRPC_PORT; 0 picks a free one), or null when it is off. */
  readonly grpcPort: number | null;
  readonly host: string;
  readonly storage: "memory" | "postgres" | "mysql";
  /** The database's connection URL; set exactly when storage is postgres or mysql. */
  readonly databaseUrl: string | null;
  /** What sits between the service and PostgreSQL (DATABASE_POOLER): none, or a transaction pooler. */
  readonly databasePooler: "none" | "transaction";
  readonly policy: Policy;
  /** HMAC key for stored codes; null means a random key for this process (memory only). */
  readonly hmacKey: Uint8Array | null;
  /** Proxies whose X-Forwarded-For is believed: addresses and CIDR ranges. */
  readonly trustProxy: readonly string[];
  /** Browser origins allowed to call the RPCs (CORS_ORIGINS): empty means no CORS, `["*"]` any. */
  readonly corsOrigins: readonly string[];
  /** Which sender delivers codes (OTP_SENDER and its variables). */
  readonly sender: SenderConfig;
  /** The least severe log entries written (LOG_LEVEL); `silent` writes none. */
  readonly logLevel: LogLevel;
  /** How long requests in flight may take to finish after SIGTERM (SHUTDOWN_GRACE). */
  readonly shutdownGraceMs: number;
  /** Signing keys, issuer and audience of access tokens (ACCESS_TOKEN_*). */
  readonly accessTokens: AccessTokenConfig;
  /**
   * Secrets that let a caller look up an email's status (SERVICE_TOKENS); with none,
   * `policy.statusByEmail` (STATUS_BY_EMAIL) says whether no one (closed) or anyone (open) may.
   */
  readonly serviceTokens: readonly string[];
  /** The certificate and key files (TLS_CERT_FILE, TLS_KEY_FILE); null serves plaintext (h2c). */
  readonly tls: TlsFiles | null;
  /** Connections one listener holds at once (MAX_CONNECTIONS); more are closed as they arrive. */
  readonly maxConnections: number;
  /** Limits on one call, the same for every door (no variable sets them yet). */
  readonly serveLimits: ServeLimits;
}

const MIN_HMAC_KEY_LENGTH = 32;

/**
 * Reads the configuration from environment variables (see docs/configuration.md). Unset or empty variables take
 * their defaults. Throws a ConfigError naming the first variable with an unusable value.
 */
export function loadConfig(env: Env): Config {
  const optional = <T>(name: string, parse: (name: string, value: string) => T, fallback: T): T => {
    const value = read(env, name);
    return value === undefined ? fallback : parse(name, value);
  };

  const storage = read(env, "STORAGE")?.trim() ?? "memory";
  if (storage !== "memory" && storage !== "postgres" && storage !== "mysql") {
    throw new ConfigError("STORAGE", storage, "expected memory, postgres or mysql");
  }
  const shared = storage !== "memory";
  const databaseUrl = shared ? parseDatabaseUrl(storage, read(env, "DATABASE_URL")) : null;
  const hmacKey = read(env, "OTP_HMAC_KEY");
  if (shared && hmacKey === undefined) {
    // Every instance must compute the same HMAC, and stored codes must outlive a restart.
    throw new ConfigError(
      "OTP_HMAC_KEY",
      "",
      `required with STORAGE=${storage}: a secret of at least ${MIN_HMAC_KEY_LENGTH} characters, the same on every instance`,
    );
  }
  if (hmacKey !== undefined && hmacKey.length < MIN_HMAC_KEY_LENGTH) {
    throw new ConfigError(
      "OTP_HMAC_KEY",
      "(hidden)",
      `expected a secret of at least ${MIN_HMAC_KEY_LENGTH} characters`,
    );
  }

  const statusLookup = loadStatusLookupConfig(env);

  return {
    port: optional("PORT", (name, value) => parseInteger(name, value, 0, 65535), 8080),
    grpcPort: optional(
      "GRPC_PORT",
      (name, value) =>
        value.trim() === "off" ? null : parseInteger(name, value, 0, 65535, ", or off to disable"),
      50051,
    ),
    host: read(env, "HOST")?.trim() ?? "0.0.0.0",
    storage,
    databaseUrl,
    databasePooler: optional("DATABASE_POOLER", parseDatabasePooler, "none"),
    policy: {
      codeLength: optional(
        "OTP_LENGTH",
        (n, v) => parseInteger(n, v, 4, 10),
        defaultPolicy.codeLength,
      ),
      codeTtlMs: optional("OTP_TTL", parseDuration, defaultPolicy.codeTtlMs),
      maxAttempts: optional(
        "OTP_MAX_ATTEMPTS",
        (n, v) => parseInteger(n, v, 1, 1000),
        defaultPolicy.maxAttempts,
      ),
      lockoutMs: optional("OTP_LOCKOUT", parseDuration, defaultPolicy.lockoutMs),
      requestLimit: optional("OTP_REQUEST_LIMIT", parseRateLimit, defaultPolicy.requestLimit),
      mailboxLimit: optional("OTP_MAILBOX_LIMIT", parseRateLimit, defaultPolicy.mailboxLimit),
      accountMaxFailures: optional(
        "OTP_ACCOUNT_MAX_FAILURES",
        (n, v) => parseInteger(n, v, 1, 100_000),
        defaultPolicy.accountMaxFailures,
      ),
      failureWindowMs: optional("OTP_FAILURE_WINDOW", parseDuration, defaultPolicy.failureWindowMs),
      verifyBinding: optional(
        "OTP_VERIFY_BINDING",
        parseVerifyBinding,
        defaultPolicy.verifyBinding,
      ),
      ipRequestLimit: optional(
        "OTP_IP_REQUEST_LIMIT",
        (name, value) =>
          value.trim() === "off" ? null : parseRateLimit(name, value, ", or off to disable"),
        defaultPolicy.ipRequestLimit,
      ),
      sessionTtlMs: optional("SESSION_TTL", parseDuration, defaultPolicy.sessionTtlMs),
      sessionIdleTtlMs: optional(
        "SESSION_IDLE_TTL",
        (name, value) =>
          value.trim() === "off" ? null : parseDuration(name, value, ", or off for no idle limit"),
        defaultPolicy.sessionIdleTtlMs,
      ),
      accessTokenTtlMs: optional("ACCESS_TOKEN_TTL", parseDuration, defaultPolicy.accessTokenTtlMs),
      idempotencyTtlMs: defaultPolicy.idempotencyTtlMs,
      statusByEmail: statusLookup.statusByEmail,
      auditRetentionMs: optional("AUDIT_RETENTION", parseDuration, defaultPolicy.auditRetentionMs),
    },
    hmacKey: hmacKey === undefined ? null : new TextEncoder().encode(hmacKey),
    trustProxy: optional("TRUST_PROXY", parseAddressList, []),
    corsOrigins: optional("CORS_ORIGINS", parseOriginList, []),
    sender: loadSenderConfig(env),
    logLevel: optional("LOG_LEVEL", parseLogLevel, "info"),
    shutdownGraceMs: optional("SHUTDOWN_GRACE", parseDuration, 10_000),
    accessTokens: loadAccessTokenConfig(env, shared ? storage : null),
    serviceTokens: statusLookup.serviceTokens,
    tls: parseTlsFiles(read(env, "TLS_CERT_FILE"), read(env, "TLS_KEY_FILE")),
    maxConnections: optional(
      "MAX_CONNECTIONS",
      (name, value) => parseInteger(name, value, 1, 1_000_000),
      10_000,
    ),
    serveLimits: DEFAULT_SERVE_LIMITS,
  };
}

function parseLogLevel(variable: string, value: string): LogLevel {
  const level = LOG_LEVELS.find((name) => name === value.trim().toLowerCase());
  if (level === undefined) {
    throw new ConfigError(variable, value, `expected one of ${LOG_LEVELS.join(", ")}`);
  }
  return level;
}

function parseDatabasePooler(variable: string, value: string): Config["databasePooler"] {
  const pooler = value.trim().toLowerCase();
  if (pooler !== "none" && pooler !== "transaction") {
    throw new ConfigError(
      variable,
      value,
      "expected none (PostgreSQL directly, or a session-mode pooler) or transaction (a transaction-mode pooler such as PgBouncer with pool_mode = transaction)",
    );
  }
  return pooler;
}

// The URL schemes each database engine's client reads, and an example of each.
const DATABASE_URLS = {
  postgres: {
    schemes: ["postgres:", "postgresql:"],
    example: "postgres://user:password@host:5432/db",
  },
  mysql: { schemes: ["mysql:"], example: "mysql://user:password@host:3306/db" },
} as const;

function parseDatabaseUrl(storage: "postgres" | "mysql", value: string | undefined): string {
  const { schemes, example } = DATABASE_URLS[storage];
  const accepts = `required with STORAGE=${storage}: a URL like ${example}`;
  if (
    storage === "postgres" &&
    value !== undefined &&
    /^postgres(ql)?:\/\/[^/?#]*,/i.test(value.trim())
  ) {
    // Several hosts, as libpq lists them: the WHATWG URL parser takes one only.
    return checkHostList(value.trim());
  }
  let url: URL | undefined;
  try {
    url = value === undefined ? undefined : new URL(value.trim());
  } catch {
    url = undefined;
  }
  if (url === undefined || !(schemes as readonly string[]).includes(url.protocol)) {
    // The URL may hold a password: never repeat it.
    throw new ConfigError("DATABASE_URL", value === undefined ? "" : "(hidden)", accepts);
  }
  return storage === "postgres" ? checkHostList(url.toString()) : url.toString();
}

// The hosts and target_session_attrs of a PostgreSQL URL, read as the store will read them.
function checkHostList(url: string): string {
  try {
    parseHostList(url);
  } catch (error) {
    if (error instanceof HostListError) {
      throw new ConfigError("DATABASE_URL", "(hidden)", error.message);
    }
    throw error;
  }
  return url;
}

function parseVerifyBinding(name: string, value: string): VerifyBinding {
  const binding = value.trim();
  if (binding !== "optional" && binding !== "required") {
    throw new ConfigError(name, value, "expected optional or required");
  }
  return binding;
}
