import type { SenderConfig } from "../config/sender-config.js";
import type { Clock, OtpSender } from "../domain/ports.js";
import { createLogger, type Logger } from "../observability/logger.js";
import { systemClock } from "../platform/system-clock.js";
import { createConsoleSender } from "./console-sender.js";
import { createDiscardSender } from "./discard-sender.js";
import { createSmtpSender } from "./smtp-sender.js";
import { createWebhookSender } from "./webhook-sender.js";

export interface SenderWorld {
  /** The service's clock: mail "expires in" and the webhook timestamp are read from it. */
  readonly clock?: Clock;
  /**
   * Told why a delivery failed (the caller only hears DELIVERY_FAILED). By default an error entry
   * in `logger`'s log with the otp id and the reason; the code is in neither.
   */
  readonly onFailure?: (otpId: string, error: unknown) => void;
  /** Where delivery failures are logged unless `onFailure` is given (a default logger). */
  readonly logger?: Logger;
}

/**
 * The sender `config` chooses: console (development), SMTP, webhook, or discard (load tests).
 * Throws on nothing.
 */
export function createSender(config: SenderConfig, world: SenderWorld = {}): OtpSender {
  const clock = world.clock ?? systemClock;
  const sender = choose(config, clock);
  const onFailure = world.onFailure ?? logFailure(world.logger ?? createLogger());
  return {
    async send(delivery) {
      try {
        await sender.send(delivery);
      } catch (error) {
        onFailure(delivery.otpId, error);
        throw error;
      }
    },
  };
}

function choose(config: SenderConfig, clock: Clock): OtpSender {
  switch (config.kind) {
    case "console":
      return createConsoleSender();
    case "discard":
      return createDiscardSender();
    case "smtp":
      return createSmtpSender({ ...config, clock });
    case "webhook":
      return createWebhookSender({ ...config, clock });
  }
}

function logFailure(logger: Logger) {
  return (otpId: string, error: unknown): void => {
    const reason = error instanceof Error ? error.message : String(error);
    logger.error({ otpId, reason }, "delivery failed");
  };
}
