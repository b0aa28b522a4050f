// The trusted service of the tests: GetStatus by email is closed by default (SPEC.md "Sessions"),
// so a test that looks an email up configures this token and presents it, as such a service would.

/** A service token for SERVICE_TOKENS (and the domain's `serviceTokens`). */
export const SERVICE_TOKEN = "test-service-token-0123456789-abcdefghijklmnop";

/** The header that presents it: `authorization: Bearer <SERVICE_TOKEN>`. */
export const serviceAuthorization = { authorization: `Bearer ${SERVICE_TOKEN}` } as const;

/** Connect call options that present it. */
export const asService = { headers: serviceAuthorization } as const;
