import { afterEach, describe, expect, it } from "vitest";
import { createAuthClient, rejection } from "../support/clients.js";
import { killServices, startService } from "../support/service-process.js";
import { startWebhookReceiver, type WebhookBody } from "../support/webhook-receiver.js";

// The real process, delivering by webhook so that no sender prints codes on purpose; whatever it
// writes on stdout and stderr, at the most verbose log level, must hold none of them.

const SECRET = "webhook-secret-of-at-least-32-characters";

afterEach(killServices);

describe("codes never reach the logs", () => {
  it("no line on stdout or stderr holds a delivered code, whatever the calls did", async () => {
    const hook = await startWebhookReceiver({ secret: SECRET });
    const { service, port } = await startService({
      OTP_SENDER: "webhook",
      OTP_WEBHOOK_URL: hook.url,
      OTP_WEBHOOK_SECRET: SECRET,
      LOG_LEVEL: "trace",
      // Ten digits: no timestamp, id or duration in a log contains one of them by chance.
      OTP_LENGTH: "10",
    });
    const baseUrl = `http://127.0.0.1:${port}`;
    const json = createAuthClient("connect-json-h1", baseUrl);
    const grpc = createAuthClient("grpc", baseUrl);

    // Verified, used twice, mistyped until locked, replaced, and one whose delivery failed.
    await json.requestOtp({ email: "ann@example.com" });
    const annCode = (await hook.nextDelivery()).json.code;
    await json.verifyOtp({ email: "ann@example.com", otp: annCode });
    await rejection(grpc.verifyOtp({ email: "ann@example.com", otp: annCode }));

    await grpc.requestOtp({ email: "bob@example.com", purpose: "reset" });
    const bobCode = (await hook.nextDelivery()).json.code;
    const mistyped = `${bobCode.slice(0, -1)}${(Number(bobCode.at(-1)) + 1) % 10}`;
    for (let i = 0; i < 3; i++) {
      await rejection(
        grpc.verifyOtp({ email: "bob@example.com", otp: mistyped, purpose: "reset" }),
      );
    }

    await json.requestOtp({ email: "cy@example.com" });
    await json.requestOtp({ email: "cy@example.com" });
    hook.answer({ kind: "status", status: 500 });
    await rejection(json.requestOtp({ email: "dee@example.com" }));
    await service.log({ msg: "delivery failed" });

    service.child.kill("SIGTERM");
    await service.exited;
    await hook.close();

    const codes = hook.received.map((r) => (JSON.parse(r.body) as WebhookBody).code);
    expect(codes).toHaveLength(5);
    const output = `${service.stdout()}\n${service.stderr()}`;
    // The logs did describe these calls, so the check below looked at something.
    expect(service.logs().filter((entry) => entry.msg === "rpc").length).toBeGreaterThanOrEqual(9);
    const leaked = codes.filter((code) => output.includes(code));
    expect(leaked, "codes found in the process output").toEqual([]);
  });
});
