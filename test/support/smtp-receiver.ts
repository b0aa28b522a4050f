import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

/** One message the receiver took in, parsed. */
export interface ReceivedMail {
  readonly mailFrom: string;
  readonly rcptTo: string[];
  readonly mail: ParsedMail;
  /** Whether the session was encrypted (implicit TLS or STARTTLS) when the message came. */
  readonly secure: boolean;
  /** The user the client logged in as, if it did. */
  readonly user: string | undefined;
}

/**
 * How the receiver answers the next messages: take them (`accept`), refuse the recipient with a
 * permanent 550 (`refuse`), take them but reply only after `ms` (`slow`), or take them and reply
 * only when the test calls `release()` (`hold`).
 */
export type SmtpAnswer =
  | { readonly kind: "accept" }
  | { readonly kind: "refuse" }
  | { readonly kind: "slow"; readonly ms: number }
  | { readonly kind: "hold" };

/** A real SMTP server on 127.0.0.1 (smtp-server), parsing what it receives with mailparser. */
export type SmtpReceiver = Awaited<ReturnType<typeof startSmtpReceiver>>;

/**
 * Starts the receiver on a free port. `secure` makes it speak TLS from the first byte, `startTls`
 * offers STARTTLS; both present the self-signed certificate in tls/ (CN localhost and 127.0.0.1,
 * valid to 2126; smtp-server's built-in one has expired). Any login is accepted and recorded;
 * logging in is optional.
 */
export async function startSmtpReceiver(options: { secure?: boolean; startTls?: boolean } = {}) {
  const received: ReceivedMail[] = [];
  let taken = 0;
  const waiters: (() => void)[] = [];
  const held: (() => void)[] = [];
  let answer: SmtpAnswer = { kind: "accept" };
  let connections = 0;
  let open = 0;

  const server = new SMTPServer({
    secure: options.secure ?? false,
    // Off by default: senders upgrade when offered, and would then refuse the self-signed certificate.
    disabledCommands: options.startTls ? [] : ["STARTTLS"],
    key: readFileSync(new URL("tls/localhost.key", import.meta.url)),
    cert: readFileSync(new URL("tls/localhost.crt", import.meta.url)),
    authOptional: true,
    logger: false,
    // Clients that keep pooled connections open would hold close() up for 30 s otherwise.
    closeTimeout: 50,
    onConnect(_session, callback) {
      connections++;
      open++;
      callback();
    },
    onClose() {
      open--;
    },
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username });
    },
    onRcptTo(address, _session, callback) {
      if (answer.kind === "refuse") {
        // Naming the recipient, as Postfix does: the service logs the reply.
        const reply = `5.1.1 <${address.address}>: Recipient address rejected: mailbox unavailable`;
        callback(Object.assign(new Error(reply), { responseCode: 550 }));
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      const current = answer;
      simpleParser(stream).then(
        (mail) => {
          const { mailFrom, rcptTo } = session.envelope;
          received.push({
            mailFrom: mailFrom === false ? "" : mailFrom.address,
            rcptTo: rcptTo.map((rcpt) => rcpt.address),
            mail,
            secure: session.secure,
            user: session.user as string | undefined,
          });
          for (const wake of waiters.splice(0)) {
            wake();
          }
          if (current.kind === "slow") {
            setTimeout(() => callback(), current.ms);
          } else if (current.kind === "hold") {
            held.push(() => callback());
          } else {
            callback();
          }
        },
        (error: Error) => callback(error),
      );
    },
  });
  // Clients that give up mid-session (the subject of several tests) are not the receiver's error.
  server.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    server.server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;

  return {
    port,
    /** smtp://127.0.0.1:<port>, or smtps:// when the receiver is `secure`. */
    url: `${options.secure ? "smtps" : "smtp"}://127.0.0.1:${port}`,
    /** Every message taken in so far, in order. */
    received,
    /** How many connections clients opened. */
    connections: () => connections,
    /** How many connections are open now. */
    openConnections: () => open,
    answer(next: SmtpAnswer) {
      answer = next;
    },
    /** Lets every held message's reply go out. */
    release() {
      for (const reply of held.splice(0)) {
        reply();
      }
    },
    /** The next message not yet taken by an earlier call, once it has arrived. */
    async nextMail(): Promise<ReceivedMail> {
      while (received.length <= taken) {
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
      const mail = received[taken] as ReceivedMail;
      taken++;
      return mail;
    },
    close(): Promise<void> {
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** The code a mail in the default template states. */
export function codeInMail(received: ReceivedMail): string {
  const match = /code is (\d+)/.exec(received.mail.text ?? "");
  if (match === null) {
    throw new Error(`no code in the mail's text: ${received.mail.text}`);
  }
  return match[1] as string;
}
