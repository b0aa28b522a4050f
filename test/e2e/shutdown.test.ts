import { afterEach, describe, expect, it } from "vitest";
import { createMemoryStore } from "../../src/storage/memory-store.js";
import { createAuthClient, type Protocol, rejection } from "../support/clients.js";
import { createHoldingSender } from "../support/fakes.js";
import {
  killServices,
  spawnService,
  startService,
  tryConnect,
} from "../support/service-process.js";
import { startSmtpReceiver } from "../support/smtp-receiver.js";
import { startTestServer, type TestServer } from "../support/test-server.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";

// The real process with the webhook sender and a receiver that holds its answer: a RequestOtp
// stays in flight, waiting for its delivery, for as long as the test wants.

const SECRET = "webhook-secret-of-at-least-32-characters";

const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  killServices();
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

async function holdingReceiver(): Promise<WebhookReceiver> {
  const hook = await startWebhookReceiver({ secret: SECRET });
  cleanups.push(() => hook.close());
  hook.answer({ kind: "hold" });
  return hook;
}

function webhookEnv(hook: WebhookReceiver, env: Record<string, string>) {
  return {
    OTP_SENDER: "webhook",
    OTP_WEBHOOK_URL: hook.url,
    OTP_WEBHOOK_SECRET: SECRET,
    OTP_SEND_TIMEOUT: "1m",
    ...env,
  };
}

/** The port of each gRPC door of a started service: PORT's, or GRPC_PORT's (grpc-js's server). */
const doors = [
  ["the main port", (started: { port: number }) => started.port],
  ["GRPC_PORT", (started: { grpcPort: number | null }) => started.grpcPort as number],
] as const;

describe("shutting down on SIGTERM", () => {
  it.each(doors)(
    "finishes an RPC in flight at %s, refuses new connections meanwhile, closes and exits 0",
    async (_door, portOf) => {
      const hook = await holdingReceiver();
      const started = await startService(webhookEnv(hook, { SHUTDOWN_GRACE: "1m" }));
      const { service } = started;
      const port = portOf(started);
      const client = createAuthClient("grpc", `http://127.0.0.1:${port}`);
      expect(await tryConnect(port)).toBe("connected");

      const inFlight = client.requestOtp({ email: "ada@example.com" });
      const delivery = await hook.nextDelivery();
      service.child.kill("SIGTERM");
      await service.log({ msg: "shutting down", signal: "SIGTERM", graceMs: 60_000 });

      expect(await tryConnect(port)).toBe("ECONNREFUSED");
      hook.release();
      expect((await inFlight).otpId).toBe(delivery.json.otpId);
      // Well before the minute of grace: once nothing is in flight, nothing is waited for.
      expect(await service.exited).toEqual({ code: 0, signal: null });
      expect(service.logs().map((entry) => entry.msg)).toEqual([
        "ephemeral signing key",
        "listening",
        "shutting down",
        "rpc",
        "stopped",
      ]);
    },
  );

  it.each<[Protocol, "port" | "grpcPort"]>([
    ["grpc", "port"],
    ["connect-json-h1", "port"],
    ["grpc", "grpcPort"],
  ])(
    "cuts an RPC over %s (at %s) that outlasts SHUTDOWN_GRACE and exits 0 right after the grace",
    async (protocol, door) => {
      const hook = await holdingReceiver();
      const started = await startService(webhookEnv(hook, { SHUTDOWN_GRACE: "1s" }));
      const { service } = started;
      const client = createAuthClient(protocol, `http://127.0.0.1:${started[door]}`);

      const inFlight = rejection(client.requestOtp({ email: "ada@example.com" }));
      await hook.nextDelivery();
      service.child.kill("SIGTERM");
      const exit = await service.exited;

      expect(exit).toEqual({ code: 0, signal: null });
      // Measured by the service's own clock, from its "shutting down" to its "stopped" line, so a
      // loaded machine's delay in delivering the signal or reaping the process does not count:
      // not before the grace is over, and then at once, not when the send (a minute) would end.
      const at = (msg: string) =>
        Date.parse(String(service.logs().find((entry) => entry.msg === msg)?.time));
      const drained = at("stopped") - at("shutting down");
      expect(drained).toBeGreaterThanOrEqual(1_000);
      expect(drained).toBeLessThan(1_000 + 2_000);
      await inFlight;
      expect(service.logs().filter((entry) => entry.msg === "rpc")).toEqual([
        expect.objectContaining({ method: "auth.v1.AuthService/RequestOtp", code: "CANCELED" }),
      ]);
    },
  );

  it("closes the store only once the RPC in flight has finished", async () => {
    const inner = createMemoryStore();
    let server: TestServer | undefined;
    // What the server had logged when its store closed: the RPC's line is written as it ends.
    let loggedBeforeClose: unknown[] | undefined;
    const store = {
      ...inner,
      close: async () => {
        loggedBeforeClose = server?.logs.map((entry) => [entry.msg, entry.code]);
        await inner.close();
      },
    };
    const sender = createHoldingSender();
    server = await startTestServer({}, { store, sender });
    const client = createAuthClient("connect-json-h1", server.baseUrl);

    const inFlight = client.requestOtp({ email: "ada@example.com" });
    await sender.started;
    const closed = server.app.close(60_000);
    sender.release();

    expect((await inFlight).otpId).toBeTruthy();
    await closed;
    expect(loggedBeforeClose).toEqual([
      ["ephemeral signing key", undefined],
      ["rpc", "OK"],
    ]);
  });

  it("closes the SMTP sender's pooled connection when the app closes", async () => {
    const smtp = await startSmtpReceiver();
    cleanups.push(() => smtp.close());
    const server = await startTestServer(
      { OTP_SENDER: "smtp", SMTP_URL: smtp.url, OTP_MAIL_FROM: "codes@example.com" },
      { realSender: true },
    );
    const client = createAuthClient("connect-json-h1", server.baseUrl);
    await client.requestOtp({ email: "ada@example.com" });
    await smtp.nextMail();
    // The pool keeps the connection for the next mail (for a minute of idleness).
    expect(smtp.openConnections()).toBe(1);

    await server.app.close(1_000);

    await expect.poll(() => smtp.openConnections(), { timeout: 2_000 }).toBe(0);
  });

  it.each([
    ["SHUTDOWN_GRACE", "10"],
    ["SHUTDOWN_GRACE", "0s"],
    ["LOG_LEVEL", "loud"],
  ])("refuses to start with %s=%s and says which variable is wrong", async (variable, value) => {
    const service = spawnService({ [variable]: value });

    const exit = await service.exited;

    expect(exit).toEqual({ code: 2, signal: null });
    expect(service.stderr()).toContain(`otp-auth: cannot start: ${variable}=`);
    expect(service.stdout()).toBe("");
  });
});
