// Where the login page keeps its session token: sessionStorage, so it lives as long as the tab
// (a reload keeps it, a new tab or a closed browser does not) and is never sent anywhere by the
// browser on its own, unlike a cookie.

const KEY = "otp-auth.session-token";

/** The kept session token, or null. */
export function readSessionToken(): string | null {
  return sessionStorage.getItem(KEY);
}

/** Keeps `token` for this tab. */
export function keepSessionToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

/** Forgets the kept token. */
export function forgetSessionToken(): void {
  sessionStorage.removeItem(KEY);
}

/** "Signed in as ann@example.com until 2 Jan 2026, 01:00.", in the reader's locale and time zone. */
export function describeSession(email: string, expiresAt: Date): string {
  const until = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  return `Signed in as ${email} until ${until.format(expiresAt)}.`;
}
