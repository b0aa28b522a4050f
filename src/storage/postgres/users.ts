import type { OtpStore } from "../../domain/otp-store.js";
import { millis, type Query } from "./query.js";

/** User records (table otp_users). */
export function createUserSteps(query: Query): Pick<OtpStore, "readAuthentication"> {
  return {
    async readAuthentication(email) {
      const { rows } = await query<{ authenticated_at: Date | null }>(
        "otp_read_authentication",
        "SELECT authenticated_at FROM otp_users WHERE email = $1",
        [email],
      );
      return millis(rows[0]?.authenticated_at ?? null);
    },
  };
}
