import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createAuthClient, rejection } from "../support/clients.js";
import {
  createProductionInstall,
  type ProductionInstall,
  repoRoot,
} from "../support/production-install.js";
import {
  groupAlive,
  killServices,
  type Launch,
  startService,
  tryConnect,
} from "../support/service-process.js";
import { asService, SERVICE_TOKEN } from "../support/service-token.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";

// The documented start commands, run as a supervisor runs them: the signal goes to the PID of the
// command alone (what Docker or Kubernetes does to PID 1), never to a process group.

const SECRET = "webhook-secret-of-at-least-32-characters";

let install: ProductionInstall;
let hook: WebhookReceiver;

beforeAll(async () => {
  install = await createProductionInstall();
  hook = await startWebhookReceiver({ secret: SECRET });
}, 240_000);

afterAll(async () => {
  await hook?.close();
  await install?.remove();
});

afterEach(() => {
  hook.release();
  hook.answer({ kind: "accept" });
  killServices();
});

const LAUNCHES: Record<string, () => Launch> = {
  "npm start": () => ({ command: "npm", args: ["start"], cwd: repoRoot }),
  "npm run start:prod": () => ({ command: "npm", args: ["run", "start:prod"], cwd: install.dir }),
  "node dist/src/main.js": () => ({
    command: process.execPath,
    args: [join("dist", "src", "main.js")],
    cwd: install.dir,
  }),
};

function webhookEnv(grace: string) {
  return {
    OTP_SENDER: "webhook",
    OTP_WEBHOOK_URL: hook.url,
    OTP_WEBHOOK_SECRET: SECRET,
    OTP_SEND_TIMEOUT: "1m",
    SHUTDOWN_GRACE: grace,
  };
}

/** Whether this process can listen on `port` itself: nothing holds it any more. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Rejects after `ms`: for what must happen promptly. */
function deadline(ms: number, what: string): Promise<never> {
  return new Promise((_, reject) => {
    setTimeout(() => reject(new Error(`${what} took longer than ${ms}ms`)), ms).unref();
  });
}

describe.each(Object.keys(LAUNCHES))("started with `%s`", (name) => {
  const launch = () => (LAUNCHES[name] as () => Launch)();

  it.each(["SIGTERM", "SIGINT"] as const)(
    "on %s to its PID drains the calls in flight, exits 0, leaves no process and frees the port",
    async (signal) => {
      hook.answer({ kind: "hold" });
      const { service, port } = await startService(webhookEnv("1m"), launch());
      const client = createAuthClient("grpc", `http://127.0.0.1:${port}`);
      const emails = ["ada@example.com", "bob@example.com", "cy@example.com"];
      const inFlight = emails.map((email) => client.requestOtp({ email }));
      const deliveries = await Promise.all(emails.map(() => hook.nextDelivery()));

      service.child.kill(signal);
      await Promise.race([
        service.log({ msg: "shutting down", signal }),
        deadline(5_000, `the service hearing ${signal}`),
      ]);
      expect(await tryConnect(port)).toBe("ECONNREFUSED");
      hook.release();

      const answered = await Promise.all(inFlight);
      expect(answered.map((answer) => answer.otpId).sort()).toEqual(
        deliveries.map((delivery) => delivery.json.otpId).sort(),
      );
      expect(await Promise.race([service.exited, deadline(5_000, "exiting")])).toEqual({
        code: 0,
        signal: null,
      });
      expect(groupAlive(service.child.pid as number)).toBe(false);
      expect(await portFree(port)).toBe(true);
    },
  );

  it("exits at once, with status 143, on a second SIGTERM during the drain", async () => {
    hook.answer({ kind: "hold" });
    const { service, port } = await startService(webhookEnv("1m"), launch());
    const client = createAuthClient("connect-json-h1", `http://127.0.0.1:${port}`);
    const inFlight = rejection(client.requestOtp({ email: "ada@example.com" }));
    await Promise.race([hook.nextDelivery(), deadline(5_000, "the delivery starting")]);

    service.child.kill("SIGTERM");
    await Promise.race([
      service.log({ msg: "shutting down", signal: "SIGTERM" }),
      deadline(5_000, "the service hearing SIGTERM"),
    ]);
    service.child.kill("SIGTERM");

    expect(await Promise.race([service.exited, deadline(3_000, "exiting")])).toEqual({
      code: 143,
      signal: null,
    });
    // Cut, not answered (rejection() fails a call that succeeds): the process did not wait.
    await Promise.race([inFlight, deadline(5_000, "the call ending")]);
    expect(groupAlive(service.child.pid as number)).toBe(false);
    expect(await portFree(port)).toBe(true);
  });
});

describe("the production install", () => {
  it("serves the login page and the API with only runtime dependencies installed", async () => {
    const { port } = await startService(
      { SERVICE_TOKENS: SERVICE_TOKEN },
      LAUNCHES["node dist/src/main.js"]?.(),
    );
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<html");

    const client = createAuthClient("connect-json-h1", `http://127.0.0.1:${port}`);
    expect((await client.getStatus({ email: "ada@example.com" }, asService)).authenticated).toBe(
      false,
    );
  });
});
