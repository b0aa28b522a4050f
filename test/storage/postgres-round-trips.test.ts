import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { createOtpService } from "../../src/domain/otp-service.js";
import { defaultPolicy } from "../../src/domain/policy.js";
import { migrate } from "../../src/storage/postgres/migrations.js";
import { createPostgresStore } from "../../src/storage/postgres/postgres-store.js";
import {
  createFakeClock,
  createFixedRandom,
  createRecordingSender,
  createRecordingSigner,
  createRecordingVerifier,
} from "../support/fakes.js";
import { createDatabase } from "../support/postgres-server.js";
import { SERVICE_TOKEN } from "../support/service-token.js";

// What docs/storage.md's round-trip table says, counted: every statement the store sends is one
// pool.query, so counting those counts round trips to the database.

const databaseUrl = await createDatabase(inject("postgresUrl"));
const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
await migrate(pool);
let queries = 0;
const counting = new Proxy(pool, {
  get(target, property, receiver) {
    if (property === "query") {
      return (...args: Parameters<pg.Pool["query"]>) => {
        queries++;
        return (target.query as (...a: unknown[]) => unknown)(...args);
      };
    }
    return Reflect.get(target, property, receiver);
  },
});
const store = createPostgresStore(counting);
afterAll(() => store.close());

describe("round trips to PostgreSQL", () => {
  it("VerifyOtp, starting its session, takes two; GetStatus, IntrospectToken and SignOut take one", async () => {
    const sender = createRecordingSender();
    const service = createOtpService({
      store,
      clock: createFakeClock(),
      sender,
      random: createFixedRandom(["123456"]),
      policy: { ...defaultPolicy, ipRequestLimit: null },
      hmacKey: new Uint8Array(32).fill(1),
      accessTokens: createRecordingSigner(),
      accessTokenVerifier: createRecordingVerifier(),
      tokenAuthority: { issuer: "otp-auth", audience: "otp-auth", clientId: "otp-auth" },
      serviceTokens: [SERVICE_TOKEN],
    });
    await service.requestOtp({ email: "ann@example.com", purpose: "" });
    const counted = async <T>(call: () => Promise<T>) => {
      queries = 0;
      const result = await call();
      return { result, queries };
    };
    const verify = await counted(() =>
      service.verifyOtp({ email: "ann@example.com", otp: "123456", purpose: "" }),
    );
    expect(verify.queries).toBe(2);
    const sessionToken = verify.result.session.token;
    expect((await counted(() => service.getStatus({ email: "", sessionToken }))).queries).toBe(1);
    expect(
      (
        await counted(() =>
          service.getStatus({ email: "ann@example.com", serviceToken: SERVICE_TOKEN }),
        )
      ).queries,
    ).toBe(1);
    const introspected = (token: string) =>
      counted(() => service.introspectToken({ token, serviceToken: SERVICE_TOKEN }));
    const bySession = await introspected(sessionToken);
    expect(bySession).toMatchObject({ result: { active: true }, queries: 1 });
    const byAccessToken = await introspected(verify.result.accessToken.token);
    expect(byAccessToken).toMatchObject({ result: { active: true }, queries: 1 });
    expect(
      (await counted(() => service.signOut({ sessionToken, allSessions: true }))).queries,
    ).toBe(1);
  });
});
