import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load-config.js";
import { ConfigError } from "../../src/config/parse-values.js";
import { writeKeySetFile } from "../support/access-token-keys.js";

/** Service tokens as `openssl rand -base64 32` prints them. */
const TOKEN_A = "q3Vx9TfLm2Pw8RzK1cYb6HnJd4Ga0EsU7oXiQeWtN5k=";
const TOKEN_B = "Zk7pW2mQ9xR4vT1nB8cL5yH3jF6gD0sA-_eUiOoPrMt";

function errorFor(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      return error;
    }
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("configuration", () => {
  it("defaults to SPEC.md's values with an empty environment", () => {
    expect(loadConfig({})).toEqual({
      port: 8080,
      grpcPort: 50051,
      host: "0.0.0.0",
      storage: "memory",
      databaseUrl: null,
      databasePooler: "none",
      // SPEC.md's literal numbers, not the implementation's own constant.
      policy: {
        codeLength: 6,
        codeTtlMs: 5 * 60_000,
        maxAttempts: 3,
        lockoutMs: 10 * 60_000,
        requestLimit: { count: 3, windowMs: 60 * 60_000 },
        mailboxLimit: { count: 10, windowMs: 60 * 60_000 },
        accountMaxFailures: 30,
        failureWindowMs: 24 * 60 * 60_000,
        verifyBinding: "optional",
        ipRequestLimit: { count: 8, windowMs: 15 * 60_000 },
        sessionTtlMs: 24 * 60 * 60_000,
        sessionIdleTtlMs: null,
        idempotencyTtlMs: 24 * 60 * 60_000,
        accessTokenTtlMs: 15 * 60_000,
        statusByEmail: "closed",
        auditRetentionMs: 90 * 24 * 60 * 60_000,
      },
      hmacKey: null,
      trustProxy: [],
      corsOrigins: [],
      sender: { kind: "console" },
      logLevel: "info",
      shutdownGraceMs: 10_000,
      accessTokens: {
        keys: null,
        issuer: "otp-auth",
        issuerUrl: null,
        audience: "otp-auth",
        clientId: "otp-auth",
      },
      serviceTokens: [],
      tls: null,
      maxConnections: 10_000,
      serveLimits: { maxRequestBytes: 64 * 1024 },
    });
  });

  it("reads TLS_CERT_FILE and TLS_KEY_FILE as a pair, and MAX_CONNECTIONS", () => {
    const config = loadConfig({
      TLS_CERT_FILE: "/etc/otp/tls.crt",
      TLS_KEY_FILE: " /etc/otp/tls.key ",
      MAX_CONNECTIONS: "500",
    });
    expect(config.tls).toEqual({ certFile: "/etc/otp/tls.crt", keyFile: "/etc/otp/tls.key" });
    expect(config.maxConnections).toBe(500);
    expect(errorFor({ TLS_CERT_FILE: "/etc/otp/tls.crt" }).variable).toBe("TLS_KEY_FILE");
    expect(errorFor({ TLS_KEY_FILE: "/etc/otp/tls.key" }).variable).toBe("TLS_CERT_FILE");
  });

  it("reads durations, limits and numbers", () => {
    const config = loadConfig({
      PORT: "9000",
      OTP_LENGTH: "8",
      OTP_TTL: "30s",
      OTP_MAX_ATTEMPTS: "5",
      OTP_LOCKOUT: "1h",
      OTP_REQUEST_LIMIT: "10/1d",
      OTP_MAILBOX_LIMIT: "20/1d",
      OTP_ACCOUNT_MAX_FAILURES: "100",
      OTP_FAILURE_WINDOW: "12h",
      OTP_VERIFY_BINDING: "required",
      OTP_IP_REQUEST_LIMIT: "100/500ms",
      SESSION_TTL: "2d",
      TRUST_PROXY: "10.0.0.0/8, 192.168.1.1,::1,fd00::/8",
      OTP_HMAC_KEY: "k".repeat(32),
    });
    expect(config.port).toBe(9000);
    expect(config.policy).toMatchObject({
      codeLength: 8,
      codeTtlMs: 30_000,
      maxAttempts: 5,
      lockoutMs: 3_600_000,
      requestLimit: { count: 10, windowMs: 86_400_000 },
      mailboxLimit: { count: 20, windowMs: 86_400_000 },
      accountMaxFailures: 100,
      failureWindowMs: 43_200_000,
      verifyBinding: "required",
      ipRequestLimit: { count: 100, windowMs: 500 },
      sessionTtlMs: 172_800_000,
    });
    expect(config.trustProxy).toEqual(["10.0.0.0/8", "192.168.1.1", "::1", "fd00::/8"]);
    expect(config.hmacKey).toHaveLength(32);
  });

  describe("with STORAGE=postgres", () => {
    const key = "k".repeat(32);

    it("takes DATABASE_URL, OTP_HMAC_KEY and ACCESS_TOKEN_KEYS", () => {
      const config = loadConfig({
        STORAGE: "postgres",
        DATABASE_URL: "postgres://otp:secret@db.internal:5432/otp",
        OTP_HMAC_KEY: key,
        ACCESS_TOKEN_KEYS: writeKeySetFile(),
      });
      expect(config.storage).toBe("postgres");
      expect(config.databaseUrl).toBe("postgres://otp:secret@db.internal:5432/otp");
    });

    it("refuses to start without OTP_HMAC_KEY, naming it", () => {
      const error = errorFor({ STORAGE: "postgres", DATABASE_URL: "postgres://db/otp" });
      expect(error.variable).toBe("OTP_HMAC_KEY");
      expect(error.message).toMatch(/required with STORAGE=postgres/);
    });

    it.each([undefined, "mysql://db/otp", "not a url"])(
      "refuses DATABASE_URL=%s without repeating it",
      (url) => {
        const env: Record<string, string> = { STORAGE: "postgres", OTP_HMAC_KEY: key };
        if (url !== undefined) {
          env.DATABASE_URL = url;
        }
        const error = errorFor(env);
        expect(error.variable).toBe("DATABASE_URL");
        expect(error.message).not.toContain("mysql");
      },
    );

    it("refuses to start without ACCESS_TOKEN_KEYS, naming it", () => {
      const error = errorFor({
        STORAGE: "postgres",
        DATABASE_URL: "postgres://db/otp",
        OTP_HMAC_KEY: key,
      });
      expect(error.variable).toBe("ACCESS_TOKEN_KEYS");
      expect(error.message).toMatch(/required with STORAGE=postgres/);
    });

    it("takes DATABASE_POOLER=transaction for a transaction-mode pooler, in any case", () => {
      const config = loadConfig({
        STORAGE: "postgres",
        DATABASE_URL: "postgres://otp:secret@pgbouncer:6432/otp",
        DATABASE_POOLER: " Transaction ",
        OTP_HMAC_KEY: key,
        ACCESS_TOKEN_KEYS: writeKeySetFile(),
      });
      expect(config.databasePooler).toBe("transaction");
    });

    it("takes several hosts as libpq lists them, with target_session_attrs=read-write or primary", () => {
      for (const url of [
        "postgres://otp:secret@db1:5432,db2:5433/otp?target_session_attrs=read-write",
        "postgresql://otp@db1,[::1]:6432/otp?target_session_attrs=primary&sslmode=require",
      ]) {
        const config = loadConfig({
          STORAGE: "postgres",
          DATABASE_URL: url,
          OTP_HMAC_KEY: key,
          ACCESS_TOKEN_KEYS: writeKeySetFile(),
        });
        expect(config.databaseUrl).toBe(url);
      }
    });

    it.each([
      ["postgres://otp:secret@db1,db2/otp", /several hosts need target_session_attrs=read-write/],
      [
        "postgres://otp:secret@db1,db2/otp?target_session_attrs=standby",
        /would connect to a standby/,
      ],
      [
        "postgres://otp:secret@db1/otp?target_session_attrs=read_write",
        /target_session_attrs must be read-write, primary or any/,
      ],
      [
        "postgres://otp:secret@db1:5432,db2:99999/otp?target_session_attrs=read-write",
        /host 2 of the list is not host or host:port/,
      ],
      [
        "postgres://otp:secret@db1,/otp?target_session_attrs=read-write",
        /host 2 of the list is not host or host:port/,
      ],
      [
        "postgres://otp:secret@db1,db2/otp?target_session_attrs=read-write&host=db3",
        /not also in host, hostaddr or port parameters/,
      ],
    ])("refuses DATABASE_URL=%s, saying why without repeating it", (url, why) => {
      const error = errorFor({ STORAGE: "postgres", DATABASE_URL: url, OTP_HMAC_KEY: key });
      expect(error.variable).toBe("DATABASE_URL");
      expect(error.message).toMatch(why);
      expect(error.message).not.toContain("secret");
    });

    it("ignores DATABASE_URL with memory storage", () => {
      expect(loadConfig({ DATABASE_URL: "postgres://db/otp" }).databaseUrl).toBeNull();
    });
  });

  describe("with STORAGE=mysql", () => {
    const key = "k".repeat(32);

    it("takes a mysql:// DATABASE_URL, OTP_HMAC_KEY and ACCESS_TOKEN_KEYS", () => {
      const config = loadConfig({
        STORAGE: "mysql",
        DATABASE_URL: "mysql://otp:secret@db.internal:3306/otp",
        OTP_HMAC_KEY: key,
        ACCESS_TOKEN_KEYS: writeKeySetFile(),
      });
      expect(config.storage).toBe("mysql");
      expect(config.databaseUrl).toBe("mysql://otp:secret@db.internal:3306/otp");
    });

    it.each([undefined, "postgres://otp:secret@db/otp", "not a url"])(
      "refuses DATABASE_URL=%s without repeating it, naming the URL it takes",
      (url) => {
        const env: Record<string, string> = { STORAGE: "mysql", OTP_HMAC_KEY: key };
        if (url !== undefined) {
          env.DATABASE_URL = url;
        }
        const error = errorFor(env);
        expect(error.variable).toBe("DATABASE_URL");
        expect(error.message).toContain("mysql://user:password@host:3306/db");
        expect(error.message).not.toContain("secret");
      },
    );

    it("refuses to start without OTP_HMAC_KEY or ACCESS_TOKEN_KEYS, naming each", () => {
      const withoutKey = errorFor({ STORAGE: "mysql", DATABASE_URL: "mysql://db/otp" });
      expect(withoutKey.variable).toBe("OTP_HMAC_KEY");
      expect(withoutKey.message).toMatch(/required with STORAGE=mysql/);
      const withoutKeys = errorFor({
        STORAGE: "mysql",
        DATABASE_URL: "mysql://db/otp",
        OTP_HMAC_KEY: key,
      });
      expect(withoutKeys.variable).toBe("ACCESS_TOKEN_KEYS");
      expect(withoutKeys.message).toMatch(/required with STORAGE=mysql/);
    });
  });

  it("reads CORS_ORIGINS as exact origins, or * alone for any", () => {
    expect(
      loadConfig({ CORS_ORIGINS: "https://app.example.com, http://localhost:5173" }).corsOrigins,
    ).toEqual(["https://app.example.com", "http://localhost:5173"]);
    expect(loadConfig({ CORS_ORIGINS: " * " }).corsOrigins).toEqual(["*"]);
  });

  it("suggests the origin a browser would send for a near miss", () => {
    expect(errorFor({ CORS_ORIGINS: "https://app.example.com/" }).message).toContain(
      "did you mean https://app.example.com?",
    );
  });

  it("reads LOG_LEVEL in any case and SHUTDOWN_GRACE as a duration", () => {
    expect(loadConfig({ LOG_LEVEL: "debug" }).logLevel).toBe("debug");
    expect(loadConfig({ LOG_LEVEL: " Silent " }).logLevel).toBe("silent");
    expect(loadConfig({ SHUTDOWN_GRACE: "500ms" }).shutdownGraceMs).toBe(500);
  });

  it("names every accepted LOG_LEVEL when refusing one", () => {
    expect(errorFor({ LOG_LEVEL: "verbose" }).message).toMatch(
      /expected one of fatal, error, warn, info, debug, trace, silent$/,
    );
  });

  it("serves the grpc-js door on 50051 unless GRPC_PORT moves it or turns it off", () => {
    expect(loadConfig({}).grpcPort).toBe(50051);
    expect(loadConfig({ GRPC_PORT: "0" }).grpcPort).toBe(0);
    expect(loadConfig({ GRPC_PORT: "9090" }).grpcPort).toBe(9090);
    expect(loadConfig({ GRPC_PORT: "off" }).grpcPort).toBeNull();
  });

  it("turns the IP limit off with `off`", () => {
    expect(loadConfig({ OTP_IP_REQUEST_LIMIT: "off" }).policy.ipRequestLimit).toBeNull();
  });

  it("has no idle limit on sessions unless SESSION_IDLE_TTL sets one, short ones included", () => {
    expect(loadConfig({}).policy.sessionIdleTtlMs).toBeNull();
    expect(loadConfig({ SESSION_IDLE_TTL: "off" }).policy.sessionIdleTtlMs).toBeNull();
    expect(loadConfig({ SESSION_IDLE_TTL: "30m" }).policy.sessionIdleTtlMs).toBe(1_800_000);
    expect(loadConfig({ SESSION_IDLE_TTL: "3s" }).policy.sessionIdleTtlMs).toBe(3_000);
    expect(errorFor({ SESSION_IDLE_TTL: "0s" }).message).toBe(
      'SESSION_IDLE_TTL="0s" is not valid: expected a duration like 500ms, 30s, 5m, 1h or 1d, greater than zero, or off for no idle limit',
    );
  });

  it("keeps audit events 90 days unless AUDIT_RETENTION says otherwise", () => {
    expect(loadConfig({}).policy.auditRetentionMs).toBe(90 * 86_400_000);
    expect(loadConfig({ AUDIT_RETENTION: "30d" }).policy.auditRetentionMs).toBe(30 * 86_400_000);
    expect(errorFor({ AUDIT_RETENTION: "0d" }).message).toBe(
      'AUDIT_RETENTION="0d" is not valid: expected a duration like 500ms, 30s, 5m, 1h or 1d, greater than zero',
    );
  });

  it.each([
    ["PORT", "70000"],
    ["PORT", "http"],
    ["GRPC_PORT", "65536"],
    ["GRPC_PORT", "on"],
    ["OTP_LENGTH", "3"],
    ["OTP_LENGTH", "11"],
    ["OTP_TTL", "5"],
    ["OTP_TTL", "5x"],
    ["OTP_TTL", "0s"],
    ["OTP_TTL", "-1m"],
    ["OTP_MAX_ATTEMPTS", "0"],
    ["OTP_LOCKOUT", "ten minutes"],
    ["OTP_REQUEST_LIMIT", "3"],
    ["OTP_REQUEST_LIMIT", "0/1h"],
    ["MAX_CONNECTIONS", "0"],
    ["MAX_CONNECTIONS", "many"],
    ["OTP_REQUEST_LIMIT", "3/1h/2"],
    ["OTP_MAILBOX_LIMIT", "10"],
    ["OTP_ACCOUNT_MAX_FAILURES", "0"],
    ["OTP_ACCOUNT_MAX_FAILURES", "thirty"],
    ["OTP_FAILURE_WINDOW", "1 day"],
    ["OTP_VERIFY_BINDING", "yes"],
    ["OTP_IP_REQUEST_LIMIT", "on"],
    ["SESSION_TTL", "1y"],
    ["SESSION_IDLE_TTL", "30"],
    ["SESSION_IDLE_TTL", "on"],
    ["AUDIT_RETENTION", "90"],
    ["AUDIT_RETENTION", "forever"],
    ["LOG_LEVEL", "verbose"],
    ["LOG_LEVEL", "warning"],
    ["SHUTDOWN_GRACE", "10"],
    ["SHUTDOWN_GRACE", "0s"],
    ["TRUST_PROXY", "proxy.local"],
    ["TRUST_PROXY", "10.0.0.0/33"],
    ["CORS_ORIGINS", "app.example.com"],
    ["CORS_ORIGINS", "https://app.example.com/"],
    ["CORS_ORIGINS", "https://app.example.com:443"],
    ["CORS_ORIGINS", "https://App.example.com"],
    ["CORS_ORIGINS", "ftp://files.example.com"],
    ["CORS_ORIGINS", "*,https://app.example.com"],
    ["STORAGE", "redis"],
    ["DATABASE_POOLER", "pgbouncer"],
    ["DATABASE_POOLER", "session"],
    ["OTP_HMAC_KEY", "short"],
    ["ACCESS_TOKEN_TTL", "15"],
    ["ACCESS_TOKEN_KEYS", "/nonexistent/keys.json"],
    ["SERVICE_TOKENS", "short"],
    ["SERVICE_TOKENS", `${TOKEN_A},short`],
    ["STATUS_BY_EMAIL", "yes"],
    ["STATUS_BY_EMAIL", "public"],
  ])("stops on %s=%s with a message naming the variable", (variable, value) => {
    const error = errorFor({ [variable]: value });
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(new RegExp(`^${variable}=`));
    expect(error.message).toMatch(/expected/);
  });

  it("never repeats the HMAC key in its message", () => {
    expect(errorFor({ OTP_HMAC_KEY: "tooshort-secret" }).message).not.toContain("tooshort");
  });

  it("reads the access token settings and SERVICE_TOKENS", () => {
    const config = loadConfig({
      ACCESS_TOKEN_KEYS: writeKeySetFile(["EdDSA", "ES256"]),
      ACCESS_TOKEN_TTL: "5m",
      ACCESS_TOKEN_ISSUER: "https://auth.example.com",
      ACCESS_TOKEN_AUDIENCE: "api.example.com",
      SERVICE_TOKENS: ` ${TOKEN_A} ,${TOKEN_B}`,
    });
    expect(config.policy.accessTokenTtlMs).toBe(300_000);
    expect(config.accessTokens).toMatchObject({
      issuer: "https://auth.example.com",
      issuerUrl: "https://auth.example.com",
      audience: "api.example.com",
      clientId: "otp-auth",
    });
    expect(config.accessTokens.keys?.signing).toMatchObject({ kid: "key-1", alg: "EdDSA" });
    expect(config.accessTokens.keys?.publicJwks.keys.map((k) => k.kid)).toEqual(["key-1", "key-2"]);
    expect(config.serviceTokens).toEqual([TOKEN_A, TOKEN_B]);
  });

  it("never repeats a service token in its message", () => {
    const message = errorFor({ SERVICE_TOKENS: `${TOKEN_A},tooshort-secret` }).message;
    expect(message).not.toContain("tooshort");
    expect(message).not.toContain(TOKEN_A);
    expect(message).toContain("token 2");
  });

  it("reads STATUS_BY_EMAIL: closed by default, or open", () => {
    expect(loadConfig({}).policy.statusByEmail).toBe("closed");
    expect(loadConfig({ STATUS_BY_EMAIL: "closed" }).policy.statusByEmail).toBe("closed");
    expect(loadConfig({ STATUS_BY_EMAIL: " open " }).policy.statusByEmail).toBe("open");
    expect(errorFor({ STATUS_BY_EMAIL: "yes" }).message).toMatch(
      /^STATUS_BY_EMAIL="yes" is not valid: expected closed .* or open /,
    );
  });

  it("refuses STATUS_BY_EMAIL=open together with SERVICE_TOKENS, naming STATUS_BY_EMAIL", () => {
    const token = "service-token-0123456789abcdefghijklmnopqrstuvwxyz";
    const error = errorFor({ STATUS_BY_EMAIL: "open", SERVICE_TOKENS: token });
    expect(error.variable).toBe("STATUS_BY_EMAIL");
    expect(error.message).toMatch(/cannot be combined with SERVICE_TOKENS/);
    expect(error.message).not.toContain(token);
    expect(loadConfig({ STATUS_BY_EMAIL: "closed", SERVICE_TOKENS: token }).serviceTokens).toEqual([
      token,
    ]);
  });
});

describe("the access token issuer, audience and client id (RFC 9068, RFC 8414)", () => {
  it("takes a name, or a URL that turns on discovery: https, or http on a loopback address", () => {
    const tokens = (env: Record<string, string>) => loadConfig(env).accessTokens;
    expect(tokens({ ACCESS_TOKEN_ISSUER: "my-auth" })).toMatchObject({
      issuer: "my-auth",
      issuerUrl: null,
      audience: "my-auth",
    });
    expect(tokens({ ACCESS_TOKEN_ISSUER: "https://Auth.Example.com:443/" })).toMatchObject({
      issuer: "https://auth.example.com",
      issuerUrl: "https://auth.example.com",
      audience: "https://auth.example.com",
    });
    for (const loopback of [
      "http://127.0.0.1:8080",
      "http://localhost:8080",
      "http://[::1]:8080",
    ]) {
      expect(tokens({ ACCESS_TOKEN_ISSUER: loopback }).issuerUrl).toBe(loopback);
    }
    expect(
      tokens({ ACCESS_TOKEN_AUDIENCE: "api.example.com", ACCESS_TOKEN_CLIENT_ID: "web" }),
    ).toMatchObject({ audience: "api.example.com", clientId: "web" });
  });

  it.each([
    ["http://auth.example.com", /http is only for a loopback address/],
    ["https://auth.example.com/tenant", /an origin, with no path/],
    ["https://auth.example.com?x=1", /an origin, with no path/],
    ["https://user@auth.example.com", /an origin, with no path/],
  ])("refuses ACCESS_TOKEN_ISSUER=%s, naming it", (issuer, problem) => {
    const error = errorFor({ ACCESS_TOKEN_ISSUER: issuer });
    expect(error.variable).toBe("ACCESS_TOKEN_ISSUER");
    expect(error.message).toMatch(problem);
  });
});
