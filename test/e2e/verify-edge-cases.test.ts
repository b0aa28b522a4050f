import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import type { OtpStore } from "../../src/domain/otp-store.js";
import { createMemoryStore } from "../../src/storage/memory-store.js";
import { migrate } from "../../src/storage/postgres/migrations.js";
import { createPostgresStore } from "../../src/storage/postgres/postgres-store.js";
import { createAuthClient, detailsOf } from "../support/clients.js";
import { createGatedStore } from "../support/fakes.js";
import { createDatabase, truncateAll } from "../support/postgres-server.js";
import { asService, SERVICE_TOKEN } from "../support/service-token.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// VerifyOtp's edge cases that hang on what a store keeps, on each backend, over a real server:
// - a code replaced between VerifyOtp's read and its consume (src/domain/verify-otp.ts, the
//   `replaced` outcome) is judged against the newer code, never authenticates the old one; the
//   interleaving is forced with a gated store;
// - a used code that has since expired still answers "used": used comes before expired.

const databaseUrl = await createDatabase(inject("postgresUrl"));
const schemaPool = new pg.Pool({ connectionString: databaseUrl });
await migrate(schemaPool);

const backends: Record<string, () => Promise<OtpStore>> = {
  memory: async () => createMemoryStore(),
  postgres: async () => {
    await truncateAll(schemaPool);
    return createPostgresStore(new pg.Pool({ connectionString: databaseUrl, max: 4 }));
  },
};

let server: TestServer | undefined;

afterEach(async () => {
  // Closing the server closes its store too.
  await server?.close();
  server = undefined;
});
afterAll(() => schemaPool.end());

async function verdictOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "OK";
  } catch (e) {
    const error = ConnectError.from(e);
    return `${detailsOf(error).errorInfo?.reason ?? "(no ErrorInfo)"} ${Code[error.code]}`;
  }
}

describe.each(Object.keys(backends))(
  "VerifyOtp racing a replacing RequestOtp (%s store)",
  (name) => {
    it("the old code, replaced while VerifyOtp is on its way to the store, does not authenticate", async () => {
      const store = await (backends[name] as () => Promise<OtpStore>)();
      const gated = createGatedStore(store);
      server = await startTestServer(
        { SERVICE_TOKENS: SERVICE_TOKEN },
        { store: gated.store, codes: ["111111", "222222"] },
      );
      const client = createAuthClient("connect-json-h1", server.baseUrl);
      const email = "race-replace@example.com";
      await client.requestOtp({ email });

      // VerifyOtp(old code) is about to be judged by the store (its first step, by the code's
      // key: the pair's latest code)...
      const order = gated.holdUntilDone("consumeCode", "activateCode");
      const verifying = verdictOf(client.verifyOtp({ email, otp: "111111" }));
      await order.entered;
      // ...when RequestOtp replaces it; only then does that step go ahead, against the new code.
      await client.requestOtp({ email });

      expect(await verifying).toBe("OTP_MISMATCH Unauthenticated");
      expect((await client.getStatus({ email }, asService)).authenticated).toBe(false);
      // The newer code still verifies (the failed attempt counted, but did not lock).
      expect(await verdictOf(client.verifyOtp({ email, otp: "222222" }))).toBe("OK");
      expect((await client.getStatus({ email }, asService)).authenticated).toBe(true);
    });

    it("a used code that has since expired answers OTP_ALREADY_USED, not OTP_EXPIRED", async () => {
      const store = await (backends[name] as () => Promise<OtpStore>)();
      server = await startTestServer({ OTP_TTL: "5m" }, { store, codes: ["111111", "222222"] });
      const client = createAuthClient("grpc", server.baseUrl);
      const email = "used-then-expired@example.com";
      await client.requestOtp({ email });
      await client.verifyOtp({ email, otp: "111111" });
      server.clock.advance(5 * 60_000);
      expect(await verdictOf(client.verifyOtp({ email, otp: "111111" }))).toBe(
        "OTP_ALREADY_USED FailedPrecondition",
      );
      expect(await verdictOf(client.verifyOtp({ email, otp: "000000" }))).toBe(
        "OTP_ALREADY_USED FailedPrecondition",
      );
      // An unused code that expired is the other case.
      await client.requestOtp({ email });
      server.clock.advance(5 * 60_000);
      expect(await verdictOf(client.verifyOtp({ email, otp: "222222" }))).toBe(
        "OTP_EXPIRED DeadlineExceeded",
      );
    });
  },
);
