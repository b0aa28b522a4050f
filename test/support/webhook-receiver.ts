import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

/** One POST the receiver took in. */
export interface ReceivedWebhook {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** Whether the signature verified (the receiver answers 401 otherwise). */
  readonly verified: boolean;
}

/** The delivery's JSON body, as a receiver reads it: `email` or, for an external id, `externalId`. */
export interface WebhookBody {
  readonly email?: string;
  readonly externalId?: string;
  readonly code: string;
  readonly purpose: string;
  readonly expiresAt: string;
  readonly otpId: string;
}

/**
 * How the receiver answers the next verified POSTs: 200 (`accept`), another status, with a
 * Location for redirects (`status`), 200 after `ms` (`slow`), or 200 once the test calls
 * `release()` (`hold`).
 */
export type WebhookAnswer =
  | { readonly kind: "accept" }
  | { readonly kind: "status"; readonly status: number; readonly location?: string }
  | { readonly kind: "slow"; readonly ms: number }
  | { readonly kind: "hold" };

export type WebhookReceiver = Awaited<ReturnType<typeof startWebhookReceiver>>;

/**
 * Starts a node:http server on 127.0.0.1 that checks each POST's signature with `secret` as the
 * docs/configuration.md tells receivers to, against `now()` (milliseconds; the real time by default).
 */
export async function startWebhookReceiver(options: { secret: string; now?: () => number }) {
  const now = options.now ?? Date.now;
  const received: ReceivedWebhook[] = [];
  let taken = 0;
  const waiters: (() => void)[] = [];
  const held: (() => void)[] = [];
  let answer: WebhookAnswer = { kind: "accept" };
  let abandoned = 0;

  const server = createServer((req, res) => {
    res.once("close", () => {
      if (!res.writableFinished) {
        abandoned++;
      }
    });
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const verified = verifyOtpWebhook(options.secret, req.headers, body, now());
      received.push({ path: req.url ?? "", headers: req.headers, body, verified });
      for (const wake of waiters.splice(0)) {
        wake();
      }
      if (!verified) {
        res.writeHead(401).end();
        return;
      }
      const current = answer;
      if (current.kind === "status") {
        res.writeHead(current.status, current.location ? { location: current.location } : {});
        res.end();
      } else if (current.kind === "slow") {
        setTimeout(() => res.end("ok"), current.ms);
      } else if (current.kind === "hold") {
        held.push(() => res.end("ok"));
      } else {
        res.end("ok");
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    /** http://127.0.0.1:<port>/otp */
    url: `http://127.0.0.1:${port}/otp`,
    /** Every request so far, in order, including ones that failed verification. */
    received,
    /** How many requests the sender gave up on (closed) before they were answered. */
    abandoned: () => abandoned,
    answer(next: WebhookAnswer) {
      answer = next;
    },
    release() {
      for (const reply of held.splice(0)) {
        reply();
      }
    },
    /** The body of the next request not yet taken by an earlier call, once it has arrived. */
    async nextDelivery(): Promise<ReceivedWebhook & { json: WebhookBody }> {
      while (received.length <= taken) {
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
      const request = received[taken] as ReceivedWebhook;
      taken++;
      return { ...request, json: JSON.parse(request.body) as WebhookBody };
    },
    close(): Promise<void> {
      for (const reply of held.splice(0)) {
        reply();
      }
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// The verification docs/configuration.md shows receivers, written independently of the sender's code.
const MAX_AGE_SECONDS = 5 * 60;

function verifyOtpWebhook(
  secret: string,
  headers: IncomingHttpHeaders,
  rawBody: string,
  nowMs: number,
): boolean {
  const timestamp = headers["otp-timestamp"];
  const signature = headers["otp-signature"];
  if (typeof timestamp !== "string" || typeof signature !== "string") {
    return false;
  }
  const age = nowMs / 1000 - Number(timestamp);
  if (!/^\d+$/.test(timestamp) || Math.abs(age) > MAX_AGE_SECONDS) {
    return false;
  }
  const expected = Buffer.from(
    `v1=${createHmac("sha256", secret).update(`${timestamp}.${rawBody}`).digest("hex")}`,
  );
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
