import { Code, ConnectError } from "@connectrpc/connect";
import { errorFromJson } from "@connectrpc/connect/protocol-connect";
import { afterEach, describe, expect, it } from "vitest";
import { createAuthClient, detailsOf, type Protocol } from "../support/clients.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// The per-IP limit keys on the client address: the socket peer, or, when the peer is a trusted
// proxy, the right-most X-Forwarded-For address that is not one. Every server here allows two
// codes per address; each request uses a fresh email so only the per-IP limit can refuse it.

let server: TestServer | undefined;
let emails = 0;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function startServer(trustProxy: string) {
  server = await startTestServer({ OTP_IP_REQUEST_LIMIT: "2/15m", TRUST_PROXY: trustProxy });
  return server;
}

/**
 * RequestOtp over Connect JSON with plain fetch, optionally with an X-Forwarded-For header.
 * Resolves "OK" or the refusal's ErrorInfo reason.
 */
async function requestCode(forwardedFor?: string): Promise<string> {
  emails++;
  const response = await fetch(`${(server as TestServer).baseUrl}/auth.v1.AuthService/RequestOtp`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor }),
    },
    body: JSON.stringify({ email: `client-address-${emails}@example.com` }),
  });
  const body: unknown = await response.json();
  if (response.ok) {
    return "OK";
  }
  const error = errorFromJson(
    body as Parameters<typeof errorFromJson>[0],
    response.headers,
    new ConnectError(`unreadable error body (HTTP ${response.status})`, Code.Unknown),
  );
  return detailsOf(error).errorInfo?.reason ?? `HTTP ${response.status} without ErrorInfo`;
}

/** Three requests from one apparent client: two codes, then the per-IP refusal. */
async function quotaOf(forwardedFor?: string): Promise<string[]> {
  return [
    await requestCode(forwardedFor),
    await requestCode(forwardedFor),
    await requestCode(forwardedFor),
  ];
}

const usedUp = ["OK", "OK", "IP_REQUEST_LIMIT"];

describe("the per-IP request limit", () => {
  it("keys on the socket peer when no proxy is trusted, whatever X-Forwarded-For claims", async () => {
    await startServer("");

    expect(await requestCode("203.0.113.1")).toBe("OK");
    expect(await requestCode("203.0.113.2")).toBe("OK");
    expect(await requestCode("203.0.113.3")).toBe("IP_REQUEST_LIMIT");
    expect(await requestCode()).toBe("IP_REQUEST_LIMIT");
    expect(await requestCode("198.51.100.9, 127.0.0.2")).toBe("IP_REQUEST_LIMIT");
  });

  it("ignores X-Forwarded-For from a peer that is not among the trusted proxies", async () => {
    await startServer("10.0.0.0/8");

    expect(await requestCode("203.0.113.1")).toBe("OK");
    expect(await requestCode("203.0.113.2")).toBe("OK");
    expect(await requestCode("203.0.113.3")).toBe("IP_REQUEST_LIMIT");
  });

  it("gives each forwarded client its own quota behind a trusted proxy (127.0.0.1)", async () => {
    await startServer("127.0.0.1");

    expect(await quotaOf("203.0.113.7")).toEqual(usedUp);
    expect(await quotaOf("198.51.100.23")).toEqual(usedUp);
    // The proxy's own requests (no header) are the proxy's quota, untouched so far.
    expect(await quotaOf()).toEqual(usedUp);
  });

  it("trusts a whole range of proxies given in CIDR form (127.0.0.0/8)", async () => {
    await startServer("127.0.0.0/8");

    expect(await quotaOf("203.0.113.7")).toEqual(usedUp);
    expect(await quotaOf("2001:db8::1")).toEqual(usedUp);
  });

  it("takes the right-most address that is not a trusted proxy as the client", async () => {
    await startServer("127.0.0.1,10.0.0.0/8");

    // Two hops: the client 203.0.113.7, then the trusted proxy 10.1.2.3.
    expect(await requestCode("203.0.113.7, 10.1.2.3")).toBe("OK");
    // Whatever the client wrote to the left of itself is not believed: still 203.0.113.7.
    expect(await requestCode("192.0.2.99, 203.0.113.7, 10.1.2.3")).toBe("OK");
    // Reaching us through another trusted hop, or none, it is still the same client.
    expect(await requestCode("203.0.113.7")).toBe("IP_REQUEST_LIMIT");
    expect(await requestCode("203.0.113.7, 10.9.9.9")).toBe("IP_REQUEST_LIMIT");
    // The address the client wrote to the left of itself was not charged.
    expect(await quotaOf("192.0.2.99")).toEqual(usedUp);
  });
});

describe("X-Forwarded-For over gRPC and gRPC-Web (request metadata)", () => {
  /** RequestOtp over `protocol` with an x-forwarded-for header; "OK" or the ErrorInfo reason. */
  async function requestOver(protocol: Protocol, forwardedFor: string): Promise<string> {
    emails++;
    const client = createAuthClient(protocol, (server as TestServer).baseUrl);
    try {
      await client.requestOtp(
        { email: `client-address-${emails}@example.com` },
        { headers: { "x-forwarded-for": forwardedFor } },
      );
      return "OK";
    } catch (e) {
      return detailsOf(ConnectError.from(e)).errorInfo?.reason ?? String(e);
    }
  }

  it.each(["grpc", "grpc-web"] as const)(
    "behind a trusted proxy, each forwarded client has its own quota (%s)",
    async (protocol) => {
      await startServer("127.0.0.1");
      const quota = async (client: string) => [
        await requestOver(protocol, client),
        await requestOver(protocol, client),
        await requestOver(protocol, client),
      ];
      expect(await quota("203.0.113.7")).toEqual(usedUp);
      expect(await quota("198.51.100.23")).toEqual(usedUp);
      // Addresses in one IPv6 /64 are one client, an IPv4-mapped address its IPv4 one.
      expect([
        await requestOver(protocol, "2001:db8:0:1::1"),
        await requestOver(protocol, "2001:db8:0:1:ffff::2"),
        await requestOver(protocol, "2001:db8:0:1::3"),
        await requestOver(protocol, "2001:db8:0:2::3"),
      ]).toEqual([...usedUp, "OK"]);
      expect([
        await requestOver(protocol, "192.0.2.44"),
        await requestOver(protocol, "::ffff:192.0.2.44"),
        await requestOver(protocol, "::ffff:c000:22c"),
      ]).toEqual(usedUp);
    },
  );

  it.each(["grpc", "grpc-web"] as const)(
    "from a peer that is not a trusted proxy, the header is ignored (%s)",
    async (protocol) => {
      await startServer("10.0.0.0/8");
      expect([
        await requestOver(protocol, "203.0.113.1"),
        await requestOver(protocol, "203.0.113.2"),
        await requestOver(protocol, "203.0.113.3"),
      ]).toEqual(usedUp);
    },
  );
});
