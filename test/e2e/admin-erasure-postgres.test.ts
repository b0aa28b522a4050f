import { createClient } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AdminService } from "../../gen/auth/v1/admin_pb.js";
import { writeKeySetFile } from "../support/access-token-keys.js";
import { createAuthClient, createTransport, rejection } from "../support/clients.js";
import { createDatabase } from "../support/postgres-server.js";
import { asService, SERVICE_TOKEN } from "../support/service-token.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// DeleteUser erases the person (SPEC.md "Session lifecycle"): after it, no text, varchar, bytea or
// jsonb column of any table of the service's schema holds the email, in any form the service
// writes it (the account key, a limit bucket's name), the audit trail included, while another
// user's records stay, and the erased user's pseudonymised events stay readable by user id.

const ADA = "ada@example.com";
const BOB = "bob@example.com";

let databaseUrl: string;
let server: TestServer;

beforeAll(async () => {
  databaseUrl = await createDatabase(inject("postgresUrl"));
  server = await startTestServer({
    STORAGE: "postgres",
    DATABASE_URL: databaseUrl,
    OTP_HMAC_KEY: "an-hmac-key-for-the-erasure-test-0123456789",
    ACCESS_TOKEN_KEYS: writeKeySetFile(),
    SERVICE_TOKENS: SERVICE_TOKEN,
    OTP_IP_REQUEST_LIMIT: "off",
  });
});

afterAll(async () => {
  await server?.close();
});

/** Every `table.column` (of the types that can hold text) where some row contains `text`. */
async function columnsHolding(text: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows: columns } = await client.query<{
      table_name: string;
      column_name: string;
      data_type: string;
    }>(
      `SELECT c.table_name, c.column_name, c.data_type
         FROM information_schema.columns c
         JOIN information_schema.tables t
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
          AND c.data_type IN ('text', 'character varying', 'character', 'bytea', 'jsonb', 'json')
        ORDER BY 1, 2`,
    );
    expect(columns.length).toBeGreaterThan(10);
    const holding: string[] = [];
    for (const { table_name: table, column_name: column, data_type: type } of columns) {
      const ident = `${client.escapeIdentifier(table)}.${client.escapeIdentifier(column)}`;
      const condition =
        type === "bytea"
          ? `position(convert_to($1, 'UTF8') IN ${ident}) > 0`
          : `strpos(${ident}::text, $1) > 0`;
      const { rows } = await client.query<{ found: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM ${client.escapeIdentifier(table)} WHERE ${condition}) AS found`,
        [text],
      );
      if (rows[0]?.found) {
        holding.push(`${table}.${column}`);
      }
    }
    return holding;
  } finally {
    await client.end();
  }
}

describe("DeleteUser on PostgreSQL", () => {
  it("leaves the email in no column of any table; other users keep theirs", async () => {
    const auth = createAuthClient("grpc", server.baseUrl);
    const admin = createClient(AdminService, createTransport("grpc", server.baseUrl));
    for (const email of [ADA, BOB]) {
      await auth.requestOtp({ email }, { headers: { "idempotency-key": `key-of-${email}` } });
      await auth.verifyOtp({ email, otp: server.sender.lastCodeFor(email) });
      await auth.requestOtp({ email, purpose: "reset" });
      const code = server.sender.lastCodeFor(email);
      await rejection(
        auth.verifyOtp({ email, purpose: "reset", otp: code === "000000" ? "111111" : "000000" }),
      );
    }
    // Before: the email is in every kind of record the service keeps for a user.
    expect(await columnsHolding(ADA)).toEqual(
      expect.arrayContaining([
        "otp_attempts.email",
        "otp_audit_events.email",
        "otp_codes.email",
        "otp_idempotency.email",
        "otp_sessions.email",
        "otp_slots.bucket",
        "otp_users.email",
      ]),
    );

    const { userId } = await admin.getUser({ email: ADA }, asService);
    expect(await admin.deleteUser({ email: ADA }, asService)).toMatchObject({ deleted: true });

    expect(await columnsHolding(ADA)).toEqual([]);
    expect(await columnsHolding(BOB)).toEqual(
      expect.arrayContaining([
        "otp_audit_events.email",
        "otp_sessions.email",
        "otp_slots.bucket",
        "otp_users.email",
      ]),
    );
    const { events } = await admin.listAuditEvents({ userId }, asService);
    expect(events.map((e) => e.type)).toEqual([
      "otp.requested",
      "session.created",
      "otp.requested",
      "otp.verify_failed",
      "session.revoked",
      "user.deleted",
    ]);
    expect((await admin.listAuditEvents({ email: ADA }, asService)).events).toEqual([]);
    expect((await auth.getStatus({ email: BOB }, asService)).authenticated).toBe(true);
  });
});
