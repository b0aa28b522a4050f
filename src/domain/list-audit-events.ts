import { invalidArgument } from "./errors.js";
import type { OtpStore, StoredAuditEvent } from "./otp-store.js";
import { requireOperator } from "./require-operator.js";
import { type AdminInput, readUserName, userRefOf } from "./user-name.js";

/** What reading the audit trail needs. */
export interface ListAuditEventsDeps {
  readonly store: OtpStore;
  readonly serviceTokens?: readonly string[];
}

export interface ListAuditEventsInput extends AdminInput {
  /** Only events at or after this time (epoch ms, inclusive); absent for all. */
  readonly since?: number | undefined;
  /** Events per page: 0 (absent) for DEFAULT_PAGE_SIZE, at most MAX_PAGE_SIZE (larger is clamped). */
  readonly pageSize?: number | undefined;
  /** A previous page's `nextPageToken`; empty or absent for the first page. */
  readonly pageToken?: string | undefined;
}

/** One event as AdminService answers it. */
export type AuditEventFacts = Omit<StoredAuditEvent, "seq"> & { readonly eventId: string };

export interface AuditPage {
  readonly events: readonly AuditEventFacts[];
  /** Empty on the last page. */
  readonly nextPageToken: string;
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 500;

/**
 * The audit events of the user a trusted service names, oldest first, a page at a time. Named by
 * email or external id: the events still carrying the account's name (an unknown account answers
 * an empty page, as one without events); by user id: every event of that id, those an erasure
 * pseudonymised included. Refuses callers without a service token, malformed names and a
 * `pageToken` that no page answered (`page_token`).
 */
export async function listAuditEvents(
  deps: ListAuditEventsDeps,
  input: ListAuditEventsInput,
): Promise<AuditPage> {
  requireOperator(deps.serviceTokens, input.serviceToken);
  const user = userRefOf(readUserName(input));
  const since = input.since ?? 0;
  // What a google.protobuf.Timestamp may hold (0001-01-01 to 9999-12-31), which every store's
  // time type holds too.
  if (!Number.isFinite(since) || since < MIN_TIME_MS || since > MAX_TIME_MS) {
    throw invalidArgument("since", "since must be a time between 0001-01-01 and 9999-12-31");
  }
  const after = readPageToken(input.pageToken ?? "");
  const size =
    input.pageSize === undefined || input.pageSize <= 0
      ? DEFAULT_PAGE_SIZE
      : Math.min(input.pageSize, MAX_PAGE_SIZE);
  // One more than the page: whether a next page exists, without a second read.
  const found = await deps.store.listAuditEvents({
    user,
    since,
    after,
    limit: size + 1,
  });
  const page = found.slice(0, size);
  const last = page.at(-1);
  return {
    events: page.map(({ seq, ...event }) => ({ eventId: String(seq), ...event })),
    nextPageToken: found.length > size && last !== undefined ? pageTokenOf(last.at, last.seq) : "",
  };
}

const MIN_TIME_MS = -62_135_596_800_000;
const MAX_TIME_MS = 253_402_300_799_999;

// Opaque to clients: where the previous page ended, in the trail's order. At most 15 digits
// each: exact as a number, and a time every store holds.
const TOKEN_TEXT = /^a(\d{1,15})s(\d{1,15})$/;

function pageTokenOf(at: number, seq: number): string {
  return Buffer.from(`a${at}s${seq}`).toString("base64url");
}

function readPageToken(token: string): { at: number; seq: number } | null {
  if (token === "") {
    return null;
  }
  const match = /^[A-Za-z0-9_-]{1,64}$/.test(token)
    ? TOKEN_TEXT.exec(Buffer.from(token, "base64url").toString())
    : null;
  if (match === null) {
    throw invalidArgument(
      "page_token",
      "page_token is not one this service answered: send a next_page_token unchanged, or none",
    );
  }
  return { at: Number(match[1]), seq: Number(match[2]) };
}
