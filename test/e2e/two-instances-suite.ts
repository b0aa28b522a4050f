import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Code, type ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { AdminService } from "../../gen/auth/v1/admin_pb.js";
import { writeKeySetFile } from "../support/access-token-keys.js";
import {
  createAuthClient,
  createTransport,
  detailsOf,
  type Protocol,
  rejection,
} from "../support/clients.js";
import type { DatabaseEngine } from "../support/database-engine.js";
import type { DatabaseRoute, OpenRoute } from "../support/database-route.js";
import { postgresEngine } from "../support/postgres-engine.js";
import {
  codeFromConsole,
  killServices,
  type ServiceProcess,
  startService,
} from "../support/service-process.js";
import { asService, SERVICE_TOKEN } from "../support/service-token.js";

// Two real service processes sharing one real database: every guarantee must hold across them as
// it does within one, whichever engine and whichever way they reach it. postgres-instances.test.ts
// runs this suite on PostgreSQL directly, postgres-instances-pgbouncer.system.test.ts through
// PgBouncer, mariadb-instances.system.test.ts on MariaDB (STORAGE=mysql).

const HMAC_KEY = "an-hmac-key-shared-by-both-instances-0123456789";
const EMAIL = "ada@example.com";
const KEYS_FILE = writeKeySetFile();

interface Instance {
  readonly service: ServiceProcess;
  readonly baseUrl: string;
}

let databaseUrl: string;
let engine: DatabaseEngine;
let instances: Instance[];
/** How the instances reach the database. */
let route: OpenRoute;

async function startInstance(env: Record<string, string> = {}): Promise<Instance> {
  const { service, port } = await startService({
    STORAGE: engine.storage,
    ...route.env(databaseUrl),
    OTP_HMAC_KEY: HMAC_KEY,
    ACCESS_TOKEN_KEYS: KEYS_FILE,
    OTP_IP_REQUEST_LIMIT: "off",
    // The tests look emails up as a trusted service would.
    SERVICE_TOKENS: SERVICE_TOKEN,
    ...env,
  });
  return { service, baseUrl: `http://127.0.0.1:${port}` };
}

async function startBoth(env: Record<string, string> = {}): Promise<[Instance, Instance]> {
  // Started together: both apply migrations at once on a fresh database.
  const both = await Promise.all([startInstance(env), startInstance(env)]);
  instances = both;
  return both;
}

const protocolsInTurn: Protocol[] = ["grpc", "connect-json-h1", "connect-proto-h2", "grpc-web"];

/** A client on instance `i % 2` over a protocol that changes with `i`, so calls spread out. */
function clientFor(i: number) {
  const instance = instances[i % 2] as Instance;
  return createAuthClient(
    protocolsInTurn[i % protocolsInTurn.length] as Protocol,
    instance.baseUrl,
  );
}

async function requestCode(on: Instance, email = EMAIL): Promise<{ otpId: string; code: string }> {
  const { otpId } = await createAuthClient("grpc", on.baseUrl).requestOtp({ email });
  return { otpId, code: await codeFromConsole(on.service, otpId) };
}

/** The otp_id of the active code of (email, login), read from the database. */
const activeOtpId = (email: string) => engine.activeOtpId(databaseUrl, email);

function reasonOf(error: ConnectError): string | undefined {
  return detailsOf(error).errorInfo?.reason;
}

function tally(outcomes: PromiseSettledResult<unknown>[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const outcome of outcomes) {
    const key =
      outcome.status === "fulfilled"
        ? "OK"
        : (reasonOf(outcome.reason as ConnectError) ?? String(outcome.reason));
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Every stored session, token hash as hex. */
const sessionRows = () => engine.sessionRows(databaseUrl);

/** The SHA-256 of `token`'s UTF-8 bytes, in lowercase hex. */
const sha256Hex = (token: string) => createHash("sha256").update(token, "utf8").digest("hex");

/**
 * The suite, with the instances reaching the run's shared server of `on` (PostgreSQL unless said)
 * by `via`.
 */
export function describeTwoInstances(
  via: DatabaseRoute,
  on: DatabaseEngine = postgresEngine,
): void {
  describe(`two instances sharing one ${on.name} ${via.name}`, () => {
    beforeAll(async () => {
      engine = on;
      route = await via.open(inject(on.sharedServer));
    });

    afterAll(async () => {
      await route?.close();
    });

    beforeEach(async () => {
      databaseUrl = await engine.createDatabase(inject(engine.sharedServer));
    });

    afterEach(() => {
      killServices();
    });

    it("a code issued on one instance verifies on the other, and both see the login", async () => {
      const [a, b] = await startBoth();
      const { code } = await requestCode(a);
      const verified = await createAuthClient("connect-json-h1", b.baseUrl).verifyOtp({
        email: EMAIL,
        otp: code,
      });
      expect(verified.authenticated).toBe(true);
      for (const instance of [a, b]) {
        const status = await createAuthClient("grpc", instance.baseUrl).getStatus(
          { email: EMAIL },
          asService,
        );
        expect(status.authenticated).toBe(true);
      }
      const again = await rejection(
        createAuthClient("grpc", a.baseUrl).verifyOtp({ email: EMAIL, otp: code }),
      );
      expect(reasonOf(again)).toBe("OTP_ALREADY_USED");
    });

    it("never stores a code in plain text", async () => {
      const [a] = await startBoth();
      const { code } = await requestCode(a);
      const stored = await engine.storedText(databaseUrl);
      expect(stored).toContain(EMAIL);
      expect(stored).not.toContain(code);
    });

    it("counts the per-email limit across both instances", async () => {
      const [a, b] = await startBoth({ OTP_REQUEST_LIMIT: "3/1h" });
      await requestCode(a);
      await requestCode(b);
      const third = await createAuthClient("grpc", a.baseUrl).requestOtp({ email: EMAIL });
      expect(third.remainingRequests).toBe(0);
      const refused = await rejection(
        createAuthClient("grpc", b.baseUrl).requestOtp({ email: EMAIL }),
      );
      expect(refused.code).toBe(Code.ResourceExhausted);
      expect(reasonOf(refused)).toBe("OTP_REQUEST_LIMIT");
    });

    it("counts wrong codes across both instances and locks on both", async () => {
      const [a, b] = await startBoth();
      const { code } = await requestCode(a);
      const wrong = code === "000000" ? "111111" : "000000";
      const first = await rejection(
        createAuthClient("grpc", a.baseUrl).verifyOtp({ email: EMAIL, otp: wrong }),
      );
      expect(detailsOf(first).errorInfo?.metadata.attempts_remaining).toBe("2");
      const second = await rejection(
        createAuthClient("grpc", b.baseUrl).verifyOtp({ email: EMAIL, otp: wrong }),
      );
      expect(detailsOf(second).errorInfo?.metadata.attempts_remaining).toBe("1");
      expect(
        reasonOf(
          await rejection(
            createAuthClient("grpc", a.baseUrl).verifyOtp({ email: EMAIL, otp: wrong }),
          ),
        ),
      ).toBe("OTP_LOCKED");
      expect(
        reasonOf(
          await rejection(
            createAuthClient("grpc", b.baseUrl).verifyOtp({ email: EMAIL, otp: code }),
          ),
        ),
      ).toBe("OTP_LOCKED");
      // The lock is unbound verification's: a code requested on one instance during it verifies
      // bound to its request on the other.
      const during = await requestCode(b);
      expect(
        (
          await createAuthClient("grpc", a.baseUrl).verifyOtp({
            email: EMAIL,
            otp: during.code,
            otpId: during.otpId,
          })
        ).authenticated,
      ).toBe(true);
    });

    it("counts a bound code's wrong attempts and the account's failures exactly across instances", async () => {
      const [a, b] = await startBoth();
      const { otpId, code } = await requestCode(a);
      const wrong = code === "000000" ? "111111" : "000000";
      // Racing wrong attempts at one bound code, on both instances: exactly three count.
      const outcomes = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) =>
          clientFor(i).verifyOtp({ email: EMAIL, otp: wrong, otpId }),
        ),
      );
      // Two hear how many are left, the third kills the code, the rest find it dead.
      expect(tally(outcomes)).toEqual({ OTP_MISMATCH: 2, OTP_LOCKED: 1, OTP_NOT_FOUND: 9 });
      // Racing right attempts at another bound code: exactly one signs in.
      const next = await requestCode(b);
      const uses = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) =>
          clientFor(i).verifyOtp({ email: EMAIL, otp: next.code, otpId: next.otpId }),
        ),
      );
      expect(tally(uses)).toEqual({ OK: 1, OTP_ALREADY_USED: 11 });
    });

    describe("instances whose machine clocks disagree still agree on time (the database's)", () => {
      const skewed = (ms: number) => ({
        NODE_OPTIONS: `--import=${fileURLToPath(new URL("../support/skewed-clock.mjs", import.meta.url))}`,
        SKEWED_CLOCK_MS: String(ms),
      });

      it("a code issued on a right clock verifies on an instance ten minutes fast", async () => {
        const [right, fast] = await Promise.all([
          startInstance(),
          startInstance(skewed(10 * 60_000)),
        ]);
        instances = [right, fast];
        const { code } = await requestCode(right);
        const verified = await createAuthClient("grpc", fast.baseUrl).verifyOtp({
          email: EMAIL,
          otp: code,
        });
        expect(verified.authenticated).toBe(true);
      });

      it("an expired code is expired on an instance ten minutes slow", async () => {
        const [right, slow] = await Promise.all([
          startInstance({ OTP_TTL: "1s" }),
          startInstance({ OTP_TTL: "1s", ...skewed(-10 * 60_000) }),
        ]);
        instances = [right, slow];
        const { code } = await requestCode(right);
        await sleep(1_500);
        const refused = await rejection(
          createAuthClient("grpc", slow.baseUrl).verifyOtp({ email: EMAIL, otp: code }),
        );
        expect(reasonOf(refused)).toBe("OTP_EXPIRED");
      });
    });

    describe("races split across both instances", () => {
      const N = 20;

      it("N concurrent right codes: exactly one succeeds with one session, the rest OTP_ALREADY_USED", async () => {
        const [a, b] = await startBoth();
        const { code } = await requestCode(a);
        const outcomes = await Promise.allSettled(
          Array.from({ length: N }, (_, i) => clientFor(i).verifyOtp({ email: EMAIL, otp: code })),
        );
        expect(tally(outcomes)).toEqual({ OK: 1, OTP_ALREADY_USED: N - 1 });
        expect(await sessionRows()).toHaveLength(1);
        const won = outcomes.find((o) => o.status === "fulfilled");
        const sessionToken = won?.status === "fulfilled" ? won.value.sessionToken : "";
        for (const instance of [a, b]) {
          const status = await createAuthClient("grpc", instance.baseUrl).getStatus({
            sessionToken,
          });
          expect(status.sessionId).toBe((await sessionRows())[0]?.session_id);
        }
      });

      it("SignOut racing GetStatus(session_token): once it returns, neither instance says authenticated", async () => {
        const [a, b] = await startBoth();
        const { code } = await requestCode(a);
        const { sessionToken } = await createAuthClient("grpc", b.baseUrl).verifyOtp({
          email: EMAIL,
          otp: code,
        });
        const lookUp = (i: number) => clientFor(i).getStatus({ sessionToken });
        // Lookups on both instances while the sign-out runs: any answer is fine for those.
        const during = Array.from({ length: N }, (_, i) => lookUp(i));
        await createAuthClient("connect-json-h1", a.baseUrl).signOut({ sessionToken });
        const after = await Promise.all(Array.from({ length: N }, (_, i) => lookUp(i)));
        await Promise.all(during);
        expect(after.map((status) => status.authenticated)).toEqual(Array(N).fill(false));
      });

      it("signing out on one instance ends the session on both; with all_sessions the email is signed out on both", async () => {
        const [a, b] = await startBoth();
        const login = async (on: Instance) => {
          const { code } = await requestCode(on);
          return createAuthClient("grpc", on.baseUrl).verifyOtp({ email: EMAIL, otp: code });
        };
        const first = await login(a);
        const second = await login(b);
        const status = (on: Instance, sessionToken: string) =>
          createAuthClient("connect-json-h1", on.baseUrl).getStatus({ sessionToken });
        await createAuthClient("grpc", a.baseUrl).signOut({ sessionToken: first.sessionToken });
        for (const on of [a, b]) {
          expect((await status(on, first.sessionToken)).authenticated).toBe(false);
          expect((await status(on, second.sessionToken)).authenticated).toBe(true);
        }
        // The revoked token no longer speaks for the user; a live one does, for every session.
        const third = await login(a);
        await createAuthClient("grpc", b.baseUrl).signOut({
          sessionToken: first.sessionToken,
          allSessions: true,
        });
        expect((await status(a, third.sessionToken)).authenticated).toBe(true);
        await createAuthClient("grpc", b.baseUrl).signOut({
          sessionToken: second.sessionToken,
          allSessions: true,
        });
        for (const on of [a, b]) {
          expect((await status(on, second.sessionToken)).authenticated).toBe(false);
          expect((await status(on, third.sessionToken)).authenticated).toBe(false);
          const byEmail = await createAuthClient("grpc", on.baseUrl).getStatus(
            { email: EMAIL },
            asService,
          );
          expect(byEmail.authenticated).toBe(false);
        }
        // Only hashes of the tokens are stored: each session's row holds exactly the SHA-256 of
        // its token (SPEC "Sessions"), computed here independently of the service's code.
        const stored = Object.fromEntries(
          (await sessionRows()).map((row) => [row.session_id, row.token_hash]),
        );
        expect(stored).toEqual({
          [first.sessionId]: sha256Hex(first.sessionToken),
          [second.sessionId]: sha256Hex(second.sessionToken),
          [third.sessionId]: sha256Hex(third.sessionToken),
        });
      });

      it("a device listed on one instance and ended on the other is gone on both at once", async () => {
        const [a, b] = await startBoth({ OTP_REQUEST_LIMIT: "10/1h" });
        const login = async (on: Instance, agent: string) => {
          const { code } = await requestCode(on);
          return createAuthClient("connect-json-h1", on.baseUrl).verifyOtp(
            { email: EMAIL, otp: code },
            { headers: { "user-agent": agent } },
          );
        };
        const phone = await login(a, "Phone/1.0");
        const laptop = await login(b, "Laptop/1.0");
        const list = (on: Instance, sessionToken: string) =>
          createAuthClient("grpc", on.baseUrl).listSessions({ sessionToken });
        const listed = await list(a, phone.sessionToken);
        expect(
          listed.sessions.map((s) => [s.sessionId, s.userAgent, s.clientAddress, s.current]),
        ).toEqual([
          [laptop.sessionId, "Laptop/1.0", "127.0.0.0/24", false],
          [phone.sessionId, "Phone/1.0", "127.0.0.0/24", true],
        ]);
        await createAuthClient("grpc-web", b.baseUrl).signOut({
          sessionToken: phone.sessionToken,
          sessionId: laptop.sessionId,
        });
        for (const on of [a, b]) {
          const status = await createAuthClient("connect-json-h1", on.baseUrl).getStatus({
            sessionToken: laptop.sessionToken,
          });
          expect(status.authenticated).toBe(false);
          expect((await list(on, phone.sessionToken)).sessions.map((s) => s.sessionId)).toEqual([
            phone.sessionId,
          ]);
          expect((await list(on, laptop.sessionToken)).sessions).toEqual([]);
        }
      });

      it("SESSION_IDLE_TTL ends a session unused on both instances; one in use on either stays live", async () => {
        const [a, b] = await startBoth({ SESSION_IDLE_TTL: "3s", OTP_REQUEST_LIMIT: "10/1h" });
        const login = async (on: Instance) => {
          const { code } = await requestCode(on);
          return createAuthClient("grpc", on.baseUrl).verifyOtp({ email: EMAIL, otp: code });
        };
        const used = await login(a);
        const unused = await login(b);
        const live = async (on: Instance, sessionToken: string) =>
          (await createAuthClient("grpc", on.baseUrl).getStatus({ sessionToken })).authenticated;
        // Used on alternate instances every second for four seconds: each use is seen by both.
        for (let i = 0; i < 4; i++) {
          await sleep(1_000);
          expect(await live(instances[i % 2] as Instance, used.sessionToken)).toBe(true);
        }
        for (const on of [a, b]) {
          expect(await live(on, unused.sessionToken)).toBe(false);
          expect(await live(on, used.sessionToken)).toBe(true);
        }
        await sleep(3_200);
        for (const on of [a, b]) {
          expect(await live(on, used.sessionToken)).toBe(false);
          const byEmail = await createAuthClient("grpc", on.baseUrl).getStatus(
            { email: EMAIL },
            asService,
          );
          expect(byEmail.authenticated).toBe(false);
        }
      });

      it("RevokeSessions on one instance: every session of the user is dead at once on the other", async () => {
        const [a, b] = await startBoth();
        const sessions = [];
        for (const on of [a, b]) {
          const { code } = await requestCode(on);
          sessions.push(
            await createAuthClient("grpc", on.baseUrl).verifyOtp({ email: EMAIL, otp: code }),
          );
        }
        const admin = createClient(AdminService, createTransport("grpc", a.baseUrl));
        expect(await admin.revokeSessions({ email: EMAIL }, asService)).toMatchObject({
          revoked: 2,
        });
        for (const on of [b, a]) {
          const auth = createAuthClient("connect-json-h1", on.baseUrl);
          for (const { sessionToken } of sessions) {
            expect((await auth.getStatus({ sessionToken })).authenticated).toBe(false);
            expect((await auth.introspectToken({ token: sessionToken }, asService)).active).toBe(
              false,
            );
          }
          expect((await auth.getStatus({ email: EMAIL }, asService)).authenticated).toBe(false);
        }
        const onB = createClient(AdminService, createTransport("connect-json-h1", b.baseUrl));
        expect(await onB.getUser({ email: EMAIL }, asService)).toMatchObject({
          userId: sessions[0]?.userId,
          liveSessions: 0,
        });
      });

      it("DeleteUser on one instance: the other knows the user no more, and its sessions are dead", async () => {
        const [a, b] = await startBoth();
        const { code } = await requestCode(a);
        const { sessionToken, userId } = await createAuthClient("grpc", a.baseUrl).verifyOtp({
          email: EMAIL,
          otp: code,
        });
        const onB = createClient(AdminService, createTransport("grpc", b.baseUrl));
        expect(await onB.deleteUser({ userId }, asService)).toMatchObject({ deleted: true });
        const auth = createAuthClient("grpc", a.baseUrl);
        expect((await auth.getStatus({ sessionToken })).authenticated).toBe(false);
        const onA = createClient(AdminService, createTransport("grpc-web", a.baseUrl));
        expect(reasonOf(await rejection(onA.getUser({ email: EMAIL }, asService)))).toBe(
          "USER_NOT_FOUND",
        );
        expect(await activeOtpId(EMAIL)).toBeUndefined();
      });

      it("N concurrent wrong codes: counted exactly, two mismatches, the rest locked", async () => {
        const [a] = await startBoth();
        const { code } = await requestCode(a);
        const wrong = code === "000000" ? "111111" : "000000";
        const outcomes = await Promise.allSettled(
          Array.from({ length: N }, (_, i) => clientFor(i).verifyOtp({ email: EMAIL, otp: wrong })),
        );
        expect(tally(outcomes)).toEqual({ OTP_MISMATCH: 2, OTP_LOCKED: N - 2 });
      });

      it.each([
        ["bound", true],
        ["unbound", false],
      ] as const)(
        "a right code racing N - 1 wrong ones (%s): no more than three attempts are judged",
        async (_, bound) => {
          // Each attempt is compared in the step that counts it (or uses the code): of N guesses at
          // once, the first three in the database's order are judged and the rest find the code
          // dead, locked or used, whichever instance they reach. (Which guesses were compared
          // cannot be seen from outside; concurrency.test.ts lines them up in a known order over
          // real sockets, and the store contract counts racing keyed guesses on every engine.)
          const [a] = await startBoth();
          const { otpId, code } = await requestCode(a);
          const wrong = code === "000000" ? "111111" : "000000";
          // Connected first, so that the guesses leave together.
          const clients = Array.from({ length: N }, (_, i) => clientFor(i));
          await Promise.allSettled(clients.map((client) => client.signOut({ sessionToken: "x" })));
          const outcomes = await Promise.allSettled(
            clients.map((client, i) =>
              client.verifyOtp({
                email: EMAIL,
                otp: i === N / 2 ? code : wrong,
                ...(bound ? { otpId } : {}),
              }),
            ),
          );
          const { events } = await engine.readState(databaseUrl, [EMAIL]);
          const judged = events.filter(
            (e) => e.type === "otp.verify_failed" || e.type === "session.created",
          );
          expect(judged.length, JSON.stringify(tally(outcomes))).toBeLessThanOrEqual(3);
          expect(tally(outcomes).OK ?? 0).toBe(
            events.filter((e) => e.type === "session.created").length,
          );
        },
      );

      it("N concurrent requests for one email: exactly the limit succeed, one code is active", async () => {
        const [, b] = await startBoth({ OTP_REQUEST_LIMIT: "3/1h", OTP_MAX_ATTEMPTS: "100" });
        const outcomes = await Promise.allSettled(
          Array.from({ length: N }, (_, i) => clientFor(i).requestOtp({ email: EMAIL })),
        );
        expect(tally(outcomes)).toEqual({ OK: 3, OTP_REQUEST_LIMIT: N - 3 });
        const issued = outcomes.flatMap((o, i) =>
          o.status === "fulfilled"
            ? [{ otpId: o.value.otpId, on: instances[i % 2] as Instance }]
            : [],
        );
        const codes = await Promise.all(
          issued.map(({ otpId, on }) => codeFromConsole(on.service, otpId)),
        );
        // The one active code is the last one activated: the database says which.
        const active = await activeOtpId(EMAIL);
        const winner = issued.findIndex((i) => i.otpId === active);
        expect(winner).toBeGreaterThanOrEqual(0);
        const verifies: string[] = [];
        for (const code of codes) {
          const result = await createAuthClient("grpc", b.baseUrl)
            .verifyOtp({ email: EMAIL, otp: code })
            .then(
              () => "OK",
              (error: ConnectError) => reasonOf(error),
            );
          verifies.push(result ?? "?");
        }
        // Tried in order: a replaced code is a wrong code, the active one verifies, and after it
        // every try hears that the (one) active code is used.
        expect(verifies).toEqual(
          codes.map((_, i) =>
            i < winner ? "OTP_MISMATCH" : i === winner ? "OK" : "OTP_ALREADY_USED",
          ),
        );
      });

      it("N concurrent requests with one idempotency key: one code, one otp_id, one slot", async () => {
        const [a, b] = await startBoth();
        const outcomes = await Promise.all(
          Array.from({ length: N }, (_, i) =>
            clientFor(i).requestOtp(
              { email: EMAIL },
              { headers: { "idempotency-key": "same-key" } },
            ),
          ),
        );
        expect(new Set(outcomes.map((o) => o.otpId)).size).toBe(1);
        expect(new Set(outcomes.map((o) => o.remainingRequests))).toEqual(new Set([2]));
        const delivered = `${a.service.stdout()}${b.service.stdout()}`.match(/^otp: /gm) ?? [];
        expect(delivered).toHaveLength(1);
        const later = await createAuthClient("grpc", b.baseUrl).requestOtp({ email: EMAIL });
        expect(later.remainingRequests).toBe(1);
      });
    });

    it("keeps codes, limits and logins when both instances restart", async () => {
      const [a, b] = await startBoth({ OTP_REQUEST_LIMIT: "2/1h" });
      const first = await requestCode(a, "first@example.com");
      await createAuthClient("grpc", b.baseUrl).verifyOtp({
        email: "first@example.com",
        otp: first.code,
      });
      const pending = await requestCode(b, "second@example.com");
      const replacing = await requestCode(a, "second@example.com");
      const latest = await requestCode(a, "third@example.com");
      for (const instance of [a, b]) {
        instance.service.child.kill("SIGTERM");
        expect((await instance.service.exited).code).toBe(0);
      }

      const [c, d] = await startBoth({ OTP_REQUEST_LIMIT: "2/1h" });
      expect(
        (
          await createAuthClient("grpc", c.baseUrl).getStatus(
            { email: "first@example.com" },
            asService,
          )
        ).authenticated,
      ).toBe(true);
      expect(
        reasonOf(
          await rejection(
            createAuthClient("grpc", d.baseUrl).requestOtp({ email: "second@example.com" }),
          ),
        ),
      ).toBe("OTP_REQUEST_LIMIT");
      // The replaced code stays dead (a wrong code now); the latest ones still work after the restart.
      // (Should the two random codes coincide, one in a million, the replaced one is just wrong.)
      const stale =
        pending.code !== replacing.code
          ? pending.code
          : replacing.code === "000000"
            ? "000001"
            : "000000";
      expect(
        reasonOf(
          await rejection(
            createAuthClient("grpc", c.baseUrl).verifyOtp({
              email: "second@example.com",
              otp: stale,
            }),
          ),
        ),
      ).toBe("OTP_MISMATCH");
      expect(
        (
          await createAuthClient("grpc", d.baseUrl).verifyOtp({
            email: "second@example.com",
            otp: replacing.code,
          })
        ).authenticated,
      ).toBe(true);
      const verified = await createAuthClient("grpc", d.baseUrl).verifyOtp({
        email: "third@example.com",
        otp: latest.code,
      });
      expect(verified.authenticated).toBe(true);
    });
  });
}
