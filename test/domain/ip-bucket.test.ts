import { describe, expect, it } from "vitest";
import { ipBucketOf } from "../../src/domain/ip-bucket.js";

describe("the per-IP limit's bucket", () => {
  it("is the address itself for IPv4", () => {
    expect(ipBucketOf("198.51.100.23")).toBe("ip:198.51.100.23");
  });

  it("is the /64 network for IPv6, however the address is written", () => {
    for (const address of [
      "2001:db8:0:1::",
      "2001:db8:0:1::42",
      "2001:DB8:0000:0001:0123:4567:89ab:cdef",
      "2001:db8::1:1:2:3:4",
      "2001:db8:0:1:1:2:1.2.3.4",
      "2001:db8:0:1::7%eth0",
    ]) {
      expect(ipBucketOf(address), address).toBe("ip:2001:db8:0:1::/64");
    }
    expect(ipBucketOf("::1")).toBe("ip:0:0:0:0::/64");
    expect(ipBucketOf("2001:db8:0:2::1")).not.toBe(ipBucketOf("2001:db8:0:1::1"));
  });

  it("is the IPv4 address for an IPv4-mapped IPv6 address, dotted or in hex", () => {
    expect(ipBucketOf("::ffff:198.51.100.23")).toBe("ip:198.51.100.23");
    expect(ipBucketOf("::FFFF:c633:6417")).toBe("ip:198.51.100.23");
    expect(ipBucketOf("0:0:0:0:0:ffff:c633:6417")).toBe("ip:198.51.100.23");
  });

  it("leaves what is not an IP address as its own bucket", () => {
    for (const odd of ["unix:/run/otp.sock", "1::2::3", "1:2:3:4:5:6:7:8:9", "256.1.1.1"]) {
      expect(ipBucketOf(odd)).toBe(`ip:${odd}`);
    }
  });
});
