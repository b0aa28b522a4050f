import type { OtpServiceDeps } from "./otp-service.js";
import { normalizeEmail } from "./validate.js";

export interface StatusInput {
  readonly email: string;
}

/** `authenticatedAt` is set only while authenticated. */
export interface Status {
  readonly authenticated: boolean;
  readonly authenticatedAt?: number;
}

/** An email is authenticated while its last verification is younger than the session TTL. */
export async function getStatus(deps: OtpServiceDeps, input: StatusInput): Promise<Status> {
  const email = normalizeEmail(input.email);
  const authenticatedAt = await deps.store.readAuthentication(email);
  const now = deps.clock.now();
  if (authenticatedAt !== null && now - authenticatedAt < deps.policy.sessionTtlMs) {
    return { authenticated: true, authenticatedAt };
  }
  return { authenticated: false };
}
