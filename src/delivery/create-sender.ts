import type { SenderConfig } from "../config/sender-config.js";
import type { Clock, OtpSender } from "../domain/ports.js";
import { systemClock } from "../platform/system-clock.js";
import { createConsoleSender } from "./console-sender.js";
import { createDiscardSender } from "./discard-sender.js";
import { createSmtpSender } from "./smtp-sender.js";
import { createWebhookSender } from "./webhook-sender.js";

export interface SenderWorld {
  /** The service's clock: mail "expires in" and the webhook timestamp are read from it. */
  readonly clock?: Clock;
}

/**
 * The sender `config` chooses: console (development), SMTP, webhook, or discard (load tests).
 * Throws on nothing. Why a delivery failed is the send's rejection; the RPC layer logs it with
 * the call's request id.
 */
export function createSender(config: SenderConfig, world: SenderWorld = {}): OtpSender {
  const clock = world.clock ?? systemClock;
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
