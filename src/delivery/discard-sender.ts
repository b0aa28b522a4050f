import type { OtpSender } from "../domain/ports.js";

/**
 * A sender that drops every code and always succeeds: for load tests (`OTP_SENDER=discard`), so
 * that delivery costs nothing and writes nothing. Nobody can log in with it; never the default.
 */
export function createDiscardSender(): OtpSender {
  return {
    async send() {},
  };
}
