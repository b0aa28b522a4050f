import { afterEach, beforeEach, describe } from "vitest";
import type { OtpStore } from "../../src/domain/otp-store.js";
import { describeAccountContract } from "./contract/accounts.js";
import { describeAdminContract } from "./contract/admin.js";
import { describeAuditContract } from "./contract/audit.js";
import { describeCodeContract } from "./contract/codes.js";
import { describeIdempotencyContract } from "./contract/idempotency.js";
import { describeLimitContract } from "./contract/limits.js";
import { describePurgeContract } from "./contract/purging.js";
import { describeSessionUseContract } from "./contract/session-uses.js";
import { describeSessionContract } from "./contract/sessions.js";

/** A store under test and how to dispose of it. */
export interface StoreUnderTest {
  readonly store: OtpStore;
  dispose(): Promise<void>;
}

/**
 * The behaviour every OtpStore must have, races included. Each backend runs this same suite;
 * `open` gives a fresh, empty store per test. One file per aggregate in contract/, as the
 * PostgreSQL store is split; a new aggregate's cases are one more call here.
 */
export function describeStoreContract(name: string, open: () => Promise<StoreUnderTest>): void {
  describe(`${name} store contract`, () => {
    let subject: StoreUnderTest;
    beforeEach(async () => {
      subject = await open();
    });
    afterEach(async () => {
      await subject.dispose();
    });
    const store = () => subject.store;

    describeCodeContract(store);
    describeSessionContract(store);
    describeSessionUseContract(store);
    describeLimitContract(store);
    describeIdempotencyContract(store);
    describePurgeContract(store);
    describeAccountContract(store);
    describeAdminContract(store);
    describeAuditContract(store);
  });
}
