import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RequestOtpRequestSchema } from "../../gen/auth/v1/auth_pb.js";
import { createAuthClient, createGrpcJsClient, rejection } from "../support/clients.js";
import { killServices, startService } from "../support/service-process.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";

// The real process delivering to a webhook that holds its answer: a RequestOtp whose caller gives
// up while the code is being delivered must stop there (the delivery is abandoned, no quota is
// used), not run on for the sender's minute-long timeout.

const SECRET = "webhook-secret-of-at-least-32-characters";
const EMAIL = "ada@example.com";

let hook: WebhookReceiver;

beforeAll(async () => {
  hook = await startWebhookReceiver({ secret: SECRET });
});

afterAll(() => hook.close());

afterEach(() => {
  killServices();
  hook.release();
});

async function startHeld() {
  hook.answer({ kind: "hold" });
  return startService({
    OTP_SENDER: "webhook",
    OTP_WEBHOOK_URL: hook.url,
    OTP_WEBHOOK_SECRET: SECRET,
    OTP_SEND_TIMEOUT: "1m",
  });
}

describe("a caller who gives up while the code is being delivered", () => {
  it.each([
    ["whose deadline passes", Code.DeadlineExceeded],
    ["who disconnects", Code.Canceled],
  ] as const)("%s: the delivery is abandoned and uses no quota", async (_, code) => {
    const abandonedBefore = hook.abandoned();
    const { port } = await startHeld();
    const client = createAuthClient("grpc", `http://127.0.0.1:${port}`);
    const controller = new AbortController();

    const call = rejection(
      client.requestOtp(
        { email: EMAIL },
        code === Code.DeadlineExceeded ? { timeoutMs: 500 } : { signal: controller.signal },
      ),
    );
    await hook.nextDelivery();
    controller.abort();
    expect((await call).code).toBe(code);

    await expect.poll(() => hook.abandoned(), { timeout: 3_000 }).toBe(abandonedBefore + 1);
    hook.answer({ kind: "accept" });
    expect((await client.requestOtp({ email: EMAIL })).remainingRequests).toBe(2);
    await hook.nextDelivery();
  });
});

describe("a caller at GRPC_PORT (the grpc-js door) who gives up during delivery", () => {
  it.each([
    ["whose deadline passes", status.DEADLINE_EXCEEDED],
    ["who cancels", status.CANCELLED],
  ] as const)("%s: the delivery is abandoned and uses no quota", async (_, code) => {
    const abandonedBefore = hook.abandoned();
    const { grpcPort } = await startHeld();
    const client = createGrpcJsClient(grpcPort as number);
    const request = create(RequestOtpRequestSchema, { email: EMAIL });
    const ask = (options: { deadline?: number }) => {
      let cancel = () => {};
      const answer = new Promise<ServiceError | null>((resolve) => {
        const call = client.RequestOtp?.(request, options, (error: ServiceError | null) =>
          resolve(error),
        );
        cancel = () => call?.cancel();
      });
      return { answer, cancel };
    };

    const call = ask(code === status.DEADLINE_EXCEEDED ? { deadline: Date.now() + 500 } : {});
    await hook.nextDelivery();
    if (code === status.CANCELLED) {
      call.cancel();
    }
    expect((await call.answer)?.code).toBe(code);

    // Abandoned by the service, not only answered by grpc-js: the handler's signal aborted.
    await expect.poll(() => hook.abandoned(), { timeout: 3_000 }).toBe(abandonedBefore + 1);
    hook.answer({ kind: "accept" });
    expect(await ask({}).answer).toBeNull();
    await hook.nextDelivery();
    client.close();
  });
});
