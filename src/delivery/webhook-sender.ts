import { createHmac } from "node:crypto";
import type { Clock, ExternalIdDelivery, OtpDelivery, OtpSender } from "../domain/ports.js";
import { systemClock } from "../platform/system-clock.js";

export interface WebhookSenderOptions {
  /** http(s) URL that receives one POST per code. */
  readonly url: string;
  /** HMAC-SHA256 key for the `otp-signature` header. */
  readonly secret: string;
  /** How long one POST may take in all, response body included. */
  readonly timeoutMs: number;
  /** Where the `otp-timestamp` header is read from; the system clock by default. */
  readonly clock?: Clock;
}

/**
 * The JSON body of a webhook delivery: `email` for an account named by email, `externalId` (and
 * no `email`) for one named by external id.
 */
export type WebhookPayload = (
  | { readonly email: string; readonly externalId?: undefined }
  | { readonly externalId: string; readonly email?: undefined }
) & {
  readonly code: string;
  readonly purpose: string;
  /** ISO 8601, UTC. */
  readonly expiresAt: string;
  readonly otpId: string;
};

/**
 * Delivers each code as a signed JSON POST (see docs/configuration.md): headers `otp-timestamp: <unix
 * seconds>` and `otp-signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. The one
 * sender that also reaches accounts named by external id: the application behind the URL knows
 * how to reach its user. A send resolves on a 2xx answer. It rejects on any other status
 * (redirects are not followed), on a network error, and when no answer came within `timeoutMs`;
 * after a timeout the receiver may have the code, but it is never activated. Errors never contain
 * the code.
 */
export function createWebhookSender(options: WebhookSenderOptions): OtpSender {
  const clock = options.clock ?? systemClock;
  const target = describeTarget(options.url);
  const details = (delivery: OtpDelivery | ExternalIdDelivery) => ({
    code: delivery.code,
    purpose: delivery.purpose,
    expiresAt: new Date(delivery.expiresAt).toISOString(),
    otpId: delivery.otpId,
  });

  async function post(payload: WebhookPayload, callerSignal?: AbortSignal): Promise<void> {
    const body = JSON.stringify(payload);
    const timestamp = String(Math.floor(clock.now() / 1000));
    const timeout = AbortSignal.timeout(options.timeoutMs);
    // The caller giving up stops the request too: nobody is left to use the code.
    const signal = callerSignal ? AbortSignal.any([timeout, callerSignal]) : timeout;
    let status: number;
    try {
      const response = await fetch(options.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "otp-timestamp": timestamp,
          "otp-signature": signWebhook(options.secret, timestamp, body),
        },
        body,
        // A redirect could carry the code to a host nobody configured.
        redirect: "manual",
        signal,
      });
      status = response.status;
      // Read to the end so the connection can be reused; bounded by the same timeout.
      await response.arrayBuffer();
    } catch (error) {
      if (callerSignal?.aborted) {
        throw callerSignal.reason;
      }
      throw new Error(
        timeout.aborted
          ? `the webhook ${target} did not answer within ${options.timeoutMs}ms; it may have the code`
          : `the webhook ${target} could not be reached: ${messageOf(error)}`,
        { cause: error },
      );
    }
    if (status < 200 || status > 299) {
      throw new Error(`the webhook ${target} answered HTTP ${status}`);
    }
  }

  return {
    send: (delivery, signal) => post({ email: delivery.email, ...details(delivery) }, signal),
    sendToExternalId: (delivery, signal) =>
      post({ externalId: delivery.externalId, ...details(delivery) }, signal),
  };
}

/** The `otp-signature` header value for `body` sent at `timestamp` (unix seconds, as a string). */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/** Origin and path only: credentials or tokens in the URL stay out of error messages. */
function describeTarget(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, …) is in its cause.
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return `${error.message}${cause}`;
  }
  return String(error);
}
