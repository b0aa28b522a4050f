import type { Clock, OtpSender } from "../domain/ports.js";
import { systemClock } from "../platform/system-clock.js";
import { createConsoleSender } from "./console-sender.js";
import { createDiscardSender } from "./discard-sender.js";
import type { MailTemplates } from "./mail-templates.js";
import { createSmtpSender } from "./smtp-sender.js";
import { createWebhookSender } from "./webhook-sender.js";

/** Which sender delivers codes, and what it needs (config/sender-config.ts reads it from the environment). */
export type SenderConfig =
  | { readonly kind: "console" }
  /** Drops every code (load tests only). */
  | { readonly kind: "discard" }
  | {
      readonly kind: "smtp";
      /** SMTP_URL, checked: smtp: or smtps:, a host, only the query options listed below. */
      readonly url: string;
      readonly from: string;
      readonly templates: MailTemplates;
      readonly timeoutMs: number;
    }
  | {
      readonly kind: "webhook";
      readonly url: string;
      readonly secret: string;
      readonly timeoutMs: number;
    };

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
