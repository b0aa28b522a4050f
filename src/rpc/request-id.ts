import { randomUUID } from "node:crypto";

/** The request and response header that carries a call's request id. */
export const REQUEST_ID_HEADER = "x-request-id";

// Visible ASCII only: the id goes into log lines and back into a header verbatim.
const ACCEPTABLE = /^[\x21-\x7e]{1,128}$/;

/**
 * The request id a call is known by: the caller's `x-request-id` if it is 1–128 visible ASCII
 * characters (so a proxy's or client's id carries through), otherwise a fresh random UUID.
 */
export function requestIdFrom(header: string | null): string {
  return header !== null && ACCEPTABLE.test(header) ? header : randomUUID();
}
