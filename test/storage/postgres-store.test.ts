import pg from "pg";
import { describe, expect, it } from "vitest";
import type { OtpStore } from "../../src/domain/otp-store.js";
import { createPostgresStore } from "../../src/storage/postgres/postgres-store.js";
import { MINUTE, T0 } from "./contract/fixtures.js";
import { describeDatabaseStoreCases } from "./database-store-cases.js";
import { createContractDatabase } from "./postgres-contract-database.js";
import { describeStoreContract } from "./store-contract.js";

const database = await createContractDatabase();
const open = database.openStore(database.url, "none");

describeStoreContract("postgres", open);

describeDatabaseStoreCases("postgres", {
  open,
  async openWithShortLease() {
    await database.schemaPool.query("TRUNCATE otp_idempotency");
    const pool = new pg.Pool({ connectionString: database.url, max: 4 });
    const store = createPostgresStore(pool, { idempotencyLease: "200 milliseconds" });
    return { store, dispose: () => store.close() };
  },
});

// A share in the mailbox's row (limits.ts) beside slots an instance before it took untagged, and
// under version 6's otp_take_slots, which such an instance still calls: each counts every slot
// for the mailbox, the share only its tag's, and neither loses the other's.
describe("postgres limits: a share in its bucket's row beside an older instance", () => {
  const mailbox = { count: 3, windowMs: 60 * MINUTE };
  const share = (tag: string) => ({ tag, limit: { count: 1, windowMs: 10 * MINUTE } });
  const tagged = (store: OtpStore, slotId: string, tag: string) =>
    store.takeSlots({
      slotId,
      now: T0,
      limits: [{ bucket: "email:ann@example.com", limit: mailbox, share: share(tag) }],
    });
  const olderTakes = (slotId: string) =>
    database.schemaPool.query("SELECT refused FROM otp_take_slots($1, $2, $3, $4, $5)", [
      ["email:ann@example.com"],
      [mailbox.count],
      [mailbox.windowMs],
      slotId,
      T0,
    ]);

  it("counts untagged slots for the mailbox only, and keeps tags through version 6's function", async () => {
    const { store, dispose } = await open();
    try {
      await olderTakes("old-1");
      expect(await tagged(store, "a", "n1")).toEqual({ granted: true, remaining: [0] });
      expect(await tagged(store, "b", "n1")).toEqual({
        granted: false,
        refused: 0,
        share: true,
        retryAt: T0 + 10 * MINUTE,
      });
      await olderTakes("old-2");
      // The mailbox is full (old-1, a, old-2), and a is still n1's.
      expect(await tagged(store, "c", "n2")).toEqual({
        granted: false,
        refused: 0,
        retryAt: T0 + 60 * MINUTE,
      });
      const { rows } = await database.schemaPool.query<{ slot: object }>(
        `SELECT slot FROM otp_slots, jsonb_array_elements(slots) AS slot
          WHERE bucket = 'email:ann@example.com' ORDER BY slot->>'id'`,
      );
      expect(rows.map(({ slot }) => slot)).toEqual([
        { id: "a", exp: T0 + 60 * MINUTE, tag: "n1", texp: T0 + 10 * MINUTE },
        { id: "old-1", exp: T0 + 60 * MINUTE },
        { id: "old-2", exp: T0 + 60 * MINUTE },
      ]);
    } finally {
      await dispose();
    }
  });
});
