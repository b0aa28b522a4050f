/**
 * The account gate: a transaction-scoped advisory lock per account key, so that steps which
 * create things for an account (a code, a session) never interleave with steps that must see all
 * of them (ending every session, erasing the account). Creators take it shared, at the start of
 * their one statement, and do not wait for each other; the revocation and the erasure take it
 * exclusive in a statement of their own, so that their next statement, reading anew, sees every
 * creator that went before, and every creator after them waits for their commit.
 *
 * The two-key form keeps it apart from the migration lock (one bigint); distinct accounts whose
 * keys hash alike only wait for each other, never see each other's rows.
 */
const GATE_CLASS = 4_201_338;

/** SQL taking, shared, the gate of the account key that the SQL expression `key` gives (`$1`). */
export const sharedAccountGate = (key: string) =>
  `pg_advisory_xact_lock_shared(${GATE_CLASS}, hashtext((${key})::text))`;

/** SQL taking, exclusive, the gate of the account key that the SQL expression `key` gives. */
export const exclusiveAccountGate = (key: string) =>
  `pg_advisory_xact_lock(${GATE_CLASS}, hashtext((${key})::text))`;
