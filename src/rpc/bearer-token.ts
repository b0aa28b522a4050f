/**
 * The credentials of an `authorization: Bearer <token>` header, if it is one; undefined for no
 * header or another scheme (the domain then refuses the caller as it refuses a wrong token).
 */
export function bearerToken(header: string | null): string | undefined {
  const match = header === null ? null : /^Bearer +(\S+) *$/i.exec(header);
  return match?.[1];
}
