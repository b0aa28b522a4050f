import { createTransport } from "nodemailer";
import type { Clock, OtpDelivery, OtpSender } from "../domain/ports.js";
import { systemClock } from "../platform/system-clock.js";
import { type MailTemplates, renderMail } from "./mail-templates.js";

export interface SmtpSenderOptions {
  /**
   * `smtp://[user:pass@]host[:port]` (STARTTLS when the server offers it; `?requireTLS=true` to
   * insist) or `smtps://…` (TLS from the first byte). Other query options: see sender-config.ts.
   */
  readonly url: string;
  /** The From header: `address` or `Name <address>`. */
  readonly from: string;
  readonly templates: MailTemplates;
  /** How long one send may take in all, from queueing to the server's final reply. */
  readonly timeoutMs: number;
  /** Where "expires in" is measured from; the system clock by default. */
  readonly clock?: Clock;
}

/** An SMTP sender; `close` ends its pooled connections. */
export interface SmtpSender extends OtpSender {
  close(): void;
}

// Closed by us before servers typically drop idle clients (RFC 5321 asks them to wait 5 minutes),
// so a send never races a server-side close.
const POOL_IDLE_MS = 60_000;
// Only detects a dead connection; a send is cut short earlier by its own timeout.
const SOCKET_SILENCE_MS = 2 * POOL_IDLE_MS;

/**
 * Sends each code as a mail (subject, plain text and HTML from `templates`) over pooled SMTP
 * connections. `send` resolves once the server accepted the message for delivery. It rejects when
 * the server refused it, could not be reached, or did not finish within `timeoutMs`; after a
 * timeout the server may still deliver the message, but the code it carries is never activated.
 * Errors never contain the code.
 */
export function createSmtpSender(options: SmtpSenderOptions): SmtpSender {
  const clock = options.clock ?? systemClock;
  const transport = createTransport({
    url: options.url,
    pool: true,
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: SOCKET_SILENCE_MS,
    idleTimeout: POOL_IDLE_MS,
    // The transcript would contain the code.
    logger: false,
    debug: false,
  });
  return {
    async send(delivery: OtpDelivery, callerSignal?: AbortSignal) {
      const mail = renderMail(options.templates, delivery, clock.now());
      try {
        await transport.sendMail({
          from: options.from,
          // An address object is taken as one mailbox; a string would be parsed as a list.
          to: { name: "", address: delivery.email },
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
          // Aborting closes the connection the message is on: a server that has not yet taken the
          // whole message drops it, one that has may still deliver it.
          // The caller giving up stops the send too: nobody is left to use the code.
          signal: callerSignal
            ? AbortSignal.any([AbortSignal.timeout(options.timeoutMs), callerSignal])
            : AbortSignal.timeout(options.timeoutMs),
        });
      } catch (error) {
        if (callerSignal?.aborted) {
          throw callerSignal.reason;
        }
        throw new Error(
          isAbort(error)
            ? `the SMTP server did not accept the message within ${options.timeoutMs}ms; it may still deliver it`
            : `the SMTP server did not accept the message: ${messageOf(error)}`,
          { cause: error },
        );
      }
    },
    close() {
      transport.close();
    },
  };
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === "AbortError";
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
