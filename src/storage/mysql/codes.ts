import type { AccountFailure, FailureOutcome, OtpState, OtpStore } from "../../domain/otp-store.js";
import { hmacPads } from "../hmac-pads.js";
import { AUDIT_INSERT, AUDIT_REQUEST, auditParams } from "./audit.js";
import type { Query } from "./query.js";

type CodeSteps = Pick<OtpStore, "readOtpState" | "activateCode" | "consumeCode" | "recordFailure">;

interface StateRow {
  otp_id: string | null;
  code_hash: Buffer | null;
  issued_at: number | null;
  expires_at: number | null;
  used_at: number | null;
  failures: number | null;
  unbound_burned: number | null;
  locked_until: number | null;
  account_failures: string | [number, string][] | null;
}

// otp_users has two unique keys, and an upsert's ON DUPLICATE KEY UPDATE runs for a clash on
// either: on user_id, it would update another email's row. Only the email's own row may be
// updated; a clash on user_id (another email holds that id) sets NULL into a NOT NULL column,
// which strict mode refuses, failing the batch as PostgreSQL's ON CONFLICT (email) fails then.
const SAME_EMAIL_ONLY = "user_id = IF(email = :email, user_id, NULL)";

// The pair's latest code, as a derived table (materialised, so an UPDATE of otp_codes may join it).
const LATEST = `(SELECT otp_id, unbound_burned FROM otp_codes
                  WHERE email = :email AND purpose = :purpose
                  ORDER BY seq DESC LIMIT 1)`;

// The account's failures after :since as a JSON array of [epoch ms, network] (unordered: MySQL's
// JSON_ARRAYAGG takes no ORDER BY), and whether its cap refuses this attempt (domain/failure-cap.ts).
const FAILURES = `(SELECT JSON_ARRAYAGG(JSON_ARRAY(at, network)) FROM otp_failures
                    WHERE email = :email AND at > :since)`;
const CAPPED = `(SELECT COUNT(*) >= :cap AND (NOT :bound OR COALESCE(MAX(network = :network), 0))
                   FROM otp_failures WHERE email = :email AND at > :since)`;

// Every step that judges an attempt locks the account's user row first, so they run one at a
// time per account; under READ COMMITTED each later statement reads what the one before committed.
const LOCK_ACCOUNT = "SELECT email FROM otp_users WHERE email = :email FOR UPDATE";

function failuresOf(value: StateRow["account_failures"]): AccountFailure[] {
  const pairs = (typeof value === "string" ? JSON.parse(value) : (value ?? [])) as [
    number,
    string,
  ][];
  return pairs.map(([at, network]) => ({ at: Number(at), network })).sort((a, b) => a.at - b.at);
}

// Whether the code's keyed hash is the one the key whose HMAC pads are :inner and :outer makes of
// its otp id (hmac-pads.ts), compared as SHA-256 digests of both; NULL without a keyed hash.
const KEYED_MATCH = `SHA2(keyed_hash, 256)
  = SHA2(UNHEX(SHA2(CONCAT(:outer, UNHEX(SHA2(CONCAT(:inner, CAST(otp_id AS BINARY)), 256))), 256)), 256)`;

/**
 * The statements, after LOCK_ACCOUNT, that count a wrong code compared with the code whose otp id
 * the SQL expression `code` gives, only while the SQL condition `guard` holds. Under the account's
 * lock: the cap, and whether the code is still live (unbound: still the latest, not burned),
 * decide (@otp_open); bound, a guarded UPDATE counts on the code; unbound, the attempts row
 * (created if missing) counts unless locked, and the failure that locks burns the code for
 * unbound verification. The UPDATE's assignments read only columns not yet assigned, so they mean
 * the same whether the engine assigns left to right (MySQL) or all at once (MariaDB's
 * SIMULTANEOUS_ASSIGNMENT). Leaves @otp_counted for failureColumns.
 */
const countFailure = (code: string, guard: string) => `
           SET @otp_open = ${guard} AND NOT ${CAPPED}
             AND EXISTS (SELECT 1 FROM otp_codes
                          WHERE email = :email AND purpose = :purpose AND otp_id = ${code}
                            AND used_at IS NULL AND expires_at > :now AND failures < :maxAttempts)
             AND (:bound OR EXISTS (SELECT 1 FROM ${LATEST} AS l
                                     WHERE l.otp_id = ${code} AND NOT l.unbound_burned));
           UPDATE otp_codes SET failures = failures + 1
            WHERE email = :email AND purpose = :purpose AND otp_id = ${code} AND :bound
              AND @otp_open;
           SET @otp_bound_counted = ROW_COUNT();
           INSERT INTO otp_attempts (email, purpose, failures, locked_until, retain_until)
           SELECT :email, :purpose, 0, NULL, :now FROM DUAL WHERE @otp_open AND NOT :bound
           ON DUPLICATE KEY UPDATE failures = failures;
           SET @otp_unbound_counted = @otp_open AND NOT :bound AND COALESCE(
             (SELECT locked_until IS NULL OR locked_until <= :now FROM otp_attempts
               WHERE email = :email AND purpose = :purpose), 0);
           UPDATE otp_attempts
              SET locked_until = IF(IF(retain_until <= :now, 1, failures + 1) >= :maxAttempts, :lockUntil, NULL),
                  failures = IF(retain_until <= :now, 1, failures + 1),
                  retain_until = :lockUntil
            WHERE email = :email AND purpose = :purpose AND @otp_unbound_counted;
           UPDATE otp_codes SET unbound_burned = TRUE
            WHERE email = :email AND purpose = :purpose AND otp_id = ${code} AND @otp_unbound_counted
              AND EXISTS (SELECT 1 FROM otp_attempts
                           WHERE email = :email AND purpose = :purpose AND locked_until IS NOT NULL);
           SET @otp_counted = @otp_bound_counted = 1 OR @otp_unbound_counted;
           INSERT INTO otp_failures (email, at, network, retain_until)
           SELECT :email, :now, :network, :failureUntil FROM DUAL WHERE @otp_counted;
           SET @otp_user = COALESCE((SELECT user_id FROM otp_users WHERE email = :email), '');
           INSERT INTO otp_audit_events ${AUDIT_INSERT}
           SELECT 'otp.verify_failed', :now, :email, @otp_user, :purpose, '', ${AUDIT_REQUEST},
                  'mismatch', :auditUntil FROM DUAL WHERE @otp_counted;
           SET @otp_scope = IF(NOT @otp_counted, NULL,
             IF((SELECT COUNT(*) FROM otp_failures WHERE email = :email AND at > :since) >= :cap, 'account',
             IF(NOT :bound AND (SELECT locked_until FROM otp_attempts
                                 WHERE email = :email AND purpose = :purpose) IS NOT NULL, 'unbound',
             IF(:bound AND (SELECT failures FROM otp_codes
                             WHERE email = :email AND purpose = :purpose AND otp_id = ${code})
                           >= :maxAttempts, 'code', NULL))));
           INSERT INTO otp_audit_events ${AUDIT_INSERT}
           SELECT 'otp.locked', :now, :email, @otp_user, :purpose, '', ${AUDIT_REQUEST},
                  @otp_scope, :auditUntil FROM DUAL WHERE @otp_scope IS NOT NULL;`;

/** What countFailure counted, as the columns of a FailureRow. */
const failureColumns = (code: string) => `@otp_counted AS counted,
                  IF(:bound,
                     (SELECT failures FROM otp_codes
                       WHERE email = :email AND purpose = :purpose AND otp_id = ${code}),
                     (SELECT failures FROM otp_attempts WHERE email = :email AND purpose = :purpose))
                    AS failures,
                  IF(:bound, NULL,
                     (SELECT locked_until FROM otp_attempts WHERE email = :email AND purpose = :purpose))
                    AS locked_until,
                  ${FAILURES} AS account_failures`;

interface FailureRow {
  counted: number | null;
  failures: number | null;
  locked_until: number | null;
  account_failures: StateRow["account_failures"];
}

function failureOutcomeOf(row: FailureRow | undefined): FailureOutcome {
  if (row?.counted !== 1) {
    return { counted: false };
  }
  return {
    counted: true,
    failures: row.failures ?? 0,
    lockedUntil: row.locked_until == null ? null : Number(row.locked_until),
    accountFailures: failuresOf(row.account_failures),
  };
}

/**
 * Codes, the unbound lane's attempts and the account's failures (tables otp_codes, otp_attempts,
 * otp_failures). Each step is one batch in one round trip; the two that judge an attempt are a
 * transaction serialised on the account's user row (and row locks are taken in one order: the
 * user row, then the code or attempts row), so that concurrent steps wait rather than deadlock.
 * A code is used by one guarded UPDATE (`… AND used_at IS NULL`), whose outcome (`ROW_COUNT()`)
 * decides the rest of the batch.
 */
export function createCodeSteps(query: Query): CodeSteps {
  return {
    async readOtpState({ email, purpose, otpId, now, failureWindowMs }): Promise<OtpState> {
      const rows = (
        await query(
          `SELECT c.otp_id, c.code_hash, c.issued_at, c.expires_at, c.used_at, c.failures,
                  c.unbound_burned,
                  (SELECT a.locked_until FROM otp_attempts a
                    WHERE a.email = :email AND a.purpose = :purpose) AS locked_until,
                  ${FAILURES} AS account_failures
             FROM (SELECT 1 AS one) AS k
             LEFT JOIN (SELECT * FROM otp_codes
                         WHERE email = :email AND purpose = :purpose
                           AND (:otpId IS NULL OR otp_id = :otpId)
                         ORDER BY seq DESC LIMIT 1) AS c ON 1`,
          { email, purpose, otpId, since: now - failureWindowMs },
        )
      ).rows<StateRow>();
      const row = rows[0];
      const found =
        row?.otp_id != null &&
        row.code_hash !== null &&
        row.issued_at !== null &&
        row.expires_at !== null &&
        // Burned for unbound verification: the latest code is gone for it, judged when bound.
        (otpId !== null || !row.unbound_burned);
      return {
        code: found
          ? {
              otpId: row.otp_id as string,
              codeHash: new Uint8Array(row.code_hash as Buffer),
              issuedAt: Number(row.issued_at),
              expiresAt: Number(row.expires_at),
              usedAt: row.used_at === null ? null : Number(row.used_at),
              failures: row.failures ?? 0,
            }
          : null,
        lockedUntil: row?.locked_until == null ? null : Number(row.locked_until),
        failures: failuresOf(row?.account_failures ?? null),
      };
    },

    async activateCode(code) {
      await query(
        `START TRANSACTION;
         INSERT INTO otp_users (email, user_id, created_at, retain_until)
         VALUES (:email, :userId, :issuedAt, :retainUntil)
         ON DUPLICATE KEY UPDATE ${SAME_EMAIL_ONLY};
         INSERT INTO otp_codes (email, purpose, otp_id, code_hash, keyed_hash, issued_at, expires_at, used_at,
                                retain_until)
         VALUES (:email, :purpose, :otpId, :codeHash, :keyedHash, :issuedAt, :expiresAt, NULL, :retainUntil);
         INSERT INTO otp_audit_events ${AUDIT_INSERT}
         SELECT 'otp.requested', :issuedAt, :email, user_id, :purpose, '', ${AUDIT_REQUEST}, '', :auditUntil
           FROM otp_users WHERE email = :email;
         COMMIT`,
        {
          email: code.email,
          purpose: code.purpose,
          otpId: code.otpId,
          codeHash: Buffer.from(code.codeHash),
          keyedHash: Buffer.from(code.keyedHash),
          issuedAt: code.issuedAt,
          expiresAt: code.expiresAt,
          retainUntil: code.retainUntil,
          userId: code.userId,
          ...auditParams(code.audit, code.issuedAt),
        },
      );
    },

    // One batch: under the account's lock, the cap and (unbound) the lock and latest code decide
    // whether the guarded UPDATE may run; it wins or not (@otp_won), and the rest of the batch
    // acts only for the winner: clear the unbound failures, upsert the user, insert the session.
    // So no session exists without its code used, nor a used code without its session.
    // Keyed (use.keyed), the code is the one named or, unbound with no name, the pair's latest
    // (@otp_code); its keyed hash is made from the key's pads (hmac-pads.ts) and compared by the
    // SHA-256 of both, so that the comparison's timing says nothing of the stored one; and when
    // the code has a keyed hash the key does not make, the same batch counts the attempt as
    // recordFailure does.
    async consumeCode(use) {
      const { gate, keyed } = use;
      const pads = keyed === undefined ? null : hmacPads(keyed.codeKey);
      const rows = (
        await query(
          `START TRANSACTION;
           ${LOCK_ACCOUNT};
           SET @otp_code = COALESCE(:otpId, IF(:inner IS NULL, NULL, (SELECT l.otp_id FROM ${LATEST} AS l)));
           SET @otp_may = NOT ${CAPPED} AND (:bound OR (
             NOT EXISTS (SELECT 1 FROM otp_attempts
                          WHERE email = :email AND purpose = :purpose AND locked_until > :now)
             AND EXISTS (SELECT 1 FROM ${LATEST} AS l
                          WHERE l.otp_id = @otp_code AND NOT l.unbound_burned)));
           UPDATE otp_codes SET used_at = :now
            WHERE email = :email AND purpose = :purpose AND otp_id = @otp_code
              AND used_at IS NULL AND expires_at > :now AND failures < :maxAttempts
              AND (:inner IS NULL OR COALESCE(${KEYED_MATCH}, FALSE))
              AND @otp_may;
           SET @otp_won = ROW_COUNT();
           DELETE FROM otp_attempts
            WHERE email = :email AND purpose = :purpose AND @otp_won = 1 AND NOT :bound;
           INSERT INTO otp_users (email, user_id, created_at, authenticated_at, retain_until)
           SELECT :email, :userId, :now, :now, :retainUntil FROM DUAL WHERE @otp_won = 1
           ON DUPLICATE KEY UPDATE ${SAME_EMAIL_ONLY},
             authenticated_at = GREATEST(COALESCE(authenticated_at, 0), :now),
             retain_until = GREATEST(retain_until, :retainUntil);
           INSERT INTO otp_sessions (token_hash, session_id, user_id, email, purpose, created_at, expires_at,
                                     last_seen_at, client_address, user_agent)
           SELECT :tokenHash, :sessionId, user_id, :email, :purpose, :now, :sessionExpiresAt,
                  :now, :clientAddress, :userAgent
             FROM otp_users WHERE email = :email AND @otp_won = 1;
           INSERT INTO otp_audit_events ${AUDIT_INSERT}
           SELECT 'session.created', :now, :email, user_id, :purpose, :sessionId, ${AUDIT_REQUEST}, '',
                  :auditUntil
             FROM otp_users WHERE email = :email AND @otp_won = 1;
           ${
             pads === null
               ? "SELECT @otp_won = 1 AS won, (SELECT user_id FROM otp_users WHERE email = :email) AS user_id"
               : `SET @otp_wrong = @otp_won = 0 AND COALESCE(
                    (SELECT keyed_hash IS NOT NULL AND NOT (${KEYED_MATCH}) FROM otp_codes
                      WHERE email = :email AND purpose = :purpose AND otp_id = @otp_code), FALSE);
                  ${countFailure("@otp_code", "@otp_wrong")}
                  SELECT @otp_won = 1 AS won, (SELECT user_id FROM otp_users WHERE email = :email) AS user_id,
                         ${failureColumns("@otp_code")},
                         (SELECT expires_at FROM otp_codes
                           WHERE email = :email AND purpose = :purpose AND otp_id = @otp_code) AS expires_at`
           };
           COMMIT`,
          {
            email: use.email,
            purpose: use.purpose,
            otpId: use.otpId,
            bound: use.bound,
            network: gate.network,
            cap: gate.maxFailures,
            since: use.now - gate.windowMs,
            maxAttempts: gate.maxAttempts,
            now: use.now,
            retainUntil: use.retainUntil,
            userId: use.userId,
            tokenHash: Buffer.from(use.session.tokenHash),
            sessionId: use.session.sessionId,
            sessionExpiresAt: use.session.expiresAt,
            clientAddress: use.session.clientAddress,
            userAgent: use.session.userAgent,
            inner: pads?.inner ?? null,
            outer: pads?.outer ?? null,
            lockUntil: keyed?.lockUntil ?? null,
            failureUntil: use.now + gate.windowMs,
            ...auditParams(use.audit, use.now),
          },
        )
      ).rows<FailureRow & { won: number; user_id: string | null; expires_at?: number | null }>();
      const row = rows[0];
      if (row?.won === 1 && row.user_id !== null) {
        return { kind: "consumed", userId: row.user_id };
      }
      const failure = failureOutcomeOf(row);
      return failure.counted && row?.expires_at != null
        ? { kind: "mismatch", failure, expiresAt: Number(row.expires_at) }
        : { kind: "refused" };
    },

    async recordFailure(failure) {
      const { gate } = failure;
      const rows = (
        await query(
          `START TRANSACTION;
           ${LOCK_ACCOUNT};
           ${countFailure(":otpId", "TRUE")}
           SELECT ${failureColumns(":otpId")};
           COMMIT`,
          {
            email: failure.email,
            purpose: failure.purpose,
            otpId: failure.otpId,
            bound: failure.bound,
            network: gate.network,
            cap: gate.maxFailures,
            since: failure.now - gate.windowMs,
            maxAttempts: gate.maxAttempts,
            now: failure.now,
            lockUntil: failure.lockUntil,
            failureUntil: failure.now + gate.windowMs,
            ...auditParams(failure.audit, failure.now),
          },
        )
      ).rows<FailureRow>();
      return failureOutcomeOf(rows[0]);
    },
  };
}
