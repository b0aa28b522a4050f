import { describe, expect, it } from "vitest";
import { clientNetworkOf, userAgentOf } from "../../src/domain/session-device.js";

describe("what a session keeps of its device", () => {
  it("keeps an IPv4 address as its /24, an IPv4-mapped one as IPv4", () => {
    expect(clientNetworkOf("203.0.113.77")).toBe("203.0.113.0/24");
    expect(clientNetworkOf("10.1.2.3")).toBe("10.1.2.0/24");
    expect(clientNetworkOf("::ffff:198.51.100.9")).toBe("198.51.100.0/24");
    expect(clientNetworkOf("::ffff:c633:6409")).toBe("198.51.100.0/24");
  });

  it("keeps an IPv6 address as its /48, written as RFC 5952 writes it", () => {
    expect(clientNetworkOf("2001:db8:1:2::5")).toBe("2001:db8:1::/48");
    expect(clientNetworkOf("2001:0DB8:0001:ffff:1:2:3:4")).toBe("2001:db8:1::/48");
    expect(clientNetworkOf("2001:db8::1")).toBe("2001:db8::/48");
    expect(clientNetworkOf("fe80::1%eth0")).toBe("fe80::/48");
    expect(clientNetworkOf("::1")).toBe("::/48");
    expect(clientNetworkOf("2001:db8:abcd:12::")).toBe("2001:db8:abcd::/48");
  });

  it("keeps nothing for no address, or one that is not an IP address", () => {
    expect(clientNetworkOf(undefined)).toBe("");
    expect(clientNetworkOf("")).toBe("");
    expect(clientNetworkOf("unix:/run/otp.sock")).toBe("");
    expect(clientNetworkOf("203.0.113.256")).toBe("");
  });

  it("keeps at most 256 code points of a User-Agent, never half a character", () => {
    expect(userAgentOf("curl/8.5.0")).toBe("curl/8.5.0");
    expect(userAgentOf(null)).toBe("");
    expect(userAgentOf(undefined)).toBe("");
    expect(userAgentOf("  ")).toBe("");
    const emoji = "😀".repeat(300);
    const kept = userAgentOf(emoji);
    expect(Array.from(kept)).toHaveLength(256);
    expect(kept).toBe("😀".repeat(256));
    expect(userAgentOf("a".repeat(256))).toBe("a".repeat(256));
    expect(userAgentOf("a".repeat(257))).toBe("a".repeat(256));
  });
});
