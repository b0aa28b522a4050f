import type { SenderConfig } from "../config/sender-config.js";
import type { Clock, OtpSender } from "../domain/ports.js";
import { systemClock } from "../platform/system-clock.js";
import { createConsoleSender } from "./console-sender.js";
import { createSmtpSender } from "./smtp-sender.js";
import { createWebhookSender } from "./webhook-sender.js";

export interface SenderWorld {
  /** The service's clock: mail "expires in" and the webhook timestamp are read from it. */
  readonly clock?: Clock;
  /**
   * Told why a delivery failed (the caller only hears DELIVERY_FAILED). By default a line on
   * stderr with the otp id and the reason; the code is in neither.
   */
  readonly onFailure?: (otpId: string, error: unknown) => void;
}

/** The sender `config` chooses: console (development), SMTP or webhook. Throws on nothing. */
export function createSender(config: SenderConfig, world: SenderWorld = {}): OtpSender {
  const clock = world.clock ?? systemClock;
  const sender = choose(config, clock);
  const onFailure = world.onFailure ?? reportToStderr;
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
    case "smtp":
      return createSmtpSender({ ...config, clock });
    case "webhook":
      return createWebhookSender({ ...config, clock });
  }
}

function reportToStderr(otpId: string, error: unknown): void {
  const reason = error instanceof Error ? error.message : String(error);
  console.error(`otp-auth: delivery of otp ${otpId} failed: ${reason}`);
}
