import type { OtpDelivery, OtpSender } from "../domain/ports.js";

/**
 * The development sender: prints one line per code to `out` (stdout by default), holding the email
 * and the code. This line is the only place a code is ever written out.
 */
export function createConsoleSender(
  out: { write(line: string): unknown } = process.stdout,
): OtpSender {
  return {
    async send(delivery: OtpDelivery) {
      const expires = new Date(delivery.expiresAt).toISOString();
      out.write(
        `otp: ${delivery.code} for ${delivery.email} (purpose ${delivery.purpose}, id ${delivery.otpId}, expires ${expires})\n`,
      );
    },
  };
}
