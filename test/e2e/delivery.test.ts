import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { createAuthClient, detailsOf, rejection } from "../support/clients.js";
import { asService, SERVICE_TOKEN } from "../support/service-token.js";
import { codeInMail, startSmtpReceiver } from "../support/smtp-receiver.js";
import { startTestServer, type TestServer } from "../support/test-server.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";

// The real service with the sender its environment configures, delivering to real receivers on
// loopback; the tests log in with what the receivers got.

const EMAIL = "ada@example.com";
const SECRET = "webhook-secret-of-at-least-32-characters";

/** A receiver as the tests drive it, whichever channel it is. */
interface Receiver {
  /** What the service needs in its environment to deliver here. */
  readonly env: Record<string, string>;
  /** The code in the next delivery, once it has arrived. */
  nextCode(): Promise<string>;
  accept(): void;
  /** Refuse deliveries as a broken receiver would: SMTP 550, HTTP 500. */
  refuse(): void;
  slow(ms: number): void;
  /** Take deliveries but answer only on `release()`. */
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

async function startSmtpChannel(): Promise<Receiver> {
  const smtp = await startSmtpReceiver();
  return {
    env: { OTP_SENDER: "smtp", SMTP_URL: smtp.url, OTP_MAIL_FROM: "codes@example.com" },
    nextCode: async () => codeInMail(await smtp.nextMail()),
    accept: () => smtp.answer({ kind: "accept" }),
    refuse: () => smtp.answer({ kind: "refuse" }),
    slow: (ms) => smtp.answer({ kind: "slow", ms }),
    hold: () => smtp.answer({ kind: "hold" }),
    release: () => smtp.release(),
    close: () => smtp.close(),
  };
}

/** `now` is the service's clock, which the receiver checks the signature's timestamp against. */
async function startWebhookChannel(
  now: () => number,
): Promise<Receiver & { hook: WebhookReceiver }> {
  const hook = await startWebhookReceiver({ secret: SECRET, now });
  return {
    hook,
    env: { OTP_SENDER: "webhook", OTP_WEBHOOK_URL: hook.url, OTP_WEBHOOK_SECRET: SECRET },
    async nextCode() {
      const delivery = await hook.nextDelivery();
      expect(delivery.verified).toBe(true);
      return delivery.json.code;
    },
    accept: () => hook.answer({ kind: "accept" }),
    refuse: () => hook.answer({ kind: "status", status: 500 }),
    slow: (ms) => hook.answer({ kind: "slow", ms }),
    hold: () => hook.answer({ kind: "hold" }),
    release: () => hook.release(),
    close: () => hook.close(),
  };
}

const channels: [string, (now: () => number) => Promise<Receiver>][] = [
  ["email over SMTP", startSmtpChannel],
  ["the signed webhook", startWebhookChannel],
];

const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

/** A receiver, and the service delivering to it (per-IP limit off), closed after the test. */
async function serve<R extends Receiver>(
  startReceiver: (now: () => number) => Promise<R>,
  env: Record<string, string> = {},
) {
  let server: TestServer | undefined;
  // The webhook receiver checks the signature's timestamp against the service's (fake) clock.
  const receiver = await startReceiver(() => server?.clock.now() ?? Date.now());
  cleanups.push(() => receiver.close());
  server = await startTestServer(
    { OTP_IP_REQUEST_LIMIT: "off", SERVICE_TOKENS: SERVICE_TOKEN, ...receiver.env, ...env },
    { realSender: true },
  );
  cleanups.push(() => server?.close());
  return { server, receiver, client: createAuthClient("connect-json-h1", server.baseUrl) };
}

async function expectDeliveryFailed(call: Promise<unknown>): Promise<void> {
  const error = await rejection(call);
  expect({ code: Code[error.code], reason: detailsOf(error).errorInfo?.reason }).toEqual({
    code: Code[Code.Unavailable],
    reason: "DELIVERY_FAILED",
  });
}

describe.each(channels)("delivery by %s", (_name, startReceiver) => {
  it("lets a user log in with the code the receiver got", async () => {
    const { receiver, client } = await serve(startReceiver);
    expect((await client.requestOtp({ email: EMAIL })).remainingRequests).toBe(2);
    const otp = await receiver.nextCode();
    expect((await client.verifyOtp({ email: EMAIL, otp })).authenticated).toBe(true);
    expect((await client.getStatus({ email: EMAIL }, asService)).authenticated).toBe(true);
  });

  it("a refused delivery is DELIVERY_FAILED, uses no quota, and the previous code keeps working", async () => {
    const { receiver, client } = await serve(startReceiver);
    await client.requestOtp({ email: EMAIL });
    const previous = await receiver.nextCode();

    receiver.refuse();
    await expectDeliveryFailed(client.requestOtp({ email: EMAIL }));

    expect((await client.verifyOtp({ email: EMAIL, otp: previous })).authenticated).toBe(true);
    receiver.accept();
    // Two codes issued of three: the refused one did not count.
    expect((await client.requestOtp({ email: EMAIL })).remainingRequests).toBe(1);
  });

  it("a delivery that times out is DELIVERY_FAILED, and the code that arrives anyway never verifies", async () => {
    const { receiver, client } = await serve(startReceiver, { OTP_SEND_TIMEOUT: "300ms" });
    receiver.hold();
    await expectDeliveryFailed(client.requestOtp({ email: EMAIL }));

    // The receiver has the code and answers late; the service had already given up on it.
    const late = await receiver.nextCode();
    receiver.release();
    const error = await rejection(client.verifyOtp({ email: EMAIL, otp: late }));
    expect(detailsOf(error).errorInfo?.reason).toBe("OTP_NOT_FOUND");

    receiver.accept();
    expect((await client.requestOtp({ email: EMAIL })).remainingRequests).toBe(2);
    const fresh = await receiver.nextCode();
    expect((await client.verifyOtp({ email: EMAIL, otp: fresh })).authenticated).toBe(true);
  });

  it("a slow receiver that answers within the timeout delivers", async () => {
    const { receiver, client } = await serve(startReceiver, { OTP_SEND_TIMEOUT: "5s" });
    receiver.slow(300);
    await client.requestOtp({ email: EMAIL });
    const otp = await receiver.nextCode();
    expect((await client.verifyOtp({ email: EMAIL, otp })).authenticated).toBe(true);
  });

  it("answers a known and a new email alike", async () => {
    const { server, receiver, client } = await serve(startReceiver);
    await client.requestOtp({ email: EMAIL });
    await client.verifyOtp({ email: EMAIL, otp: await receiver.nextCode() });
    // Past the request window, so that remaining_requests has nothing to tell either.
    server.clock.advance(60 * 60_000);

    const known = await client.requestOtp({ email: EMAIL });
    const fresh = await client.requestOtp({ email: "new@example.com" });
    const shape = ({ otpId, expiresAt, ...rest }: typeof known) => ({
      ...rest,
      fields: Object.keys({ otpId, expiresAt, ...rest }).sort(),
    });
    expect(shape(known)).toEqual(shape(fresh));
    expect(known.expiresAt).toEqual(fresh.expiresAt);
  });
});

describe("delivery by webhook", () => {
  it("a redirect is a failed delivery, and the code goes nowhere else", async () => {
    const { receiver, client } = await serve(startWebhookChannel);
    receiver.hook.answer({ kind: "status", status: 302, location: "/elsewhere" });

    await expectDeliveryFailed(client.requestOtp({ email: EMAIL }));
    expect(receiver.hook.received.map(({ path, verified }) => ({ path, verified }))).toEqual([
      { path: "/otp", verified: true },
    ]);
  });
});
