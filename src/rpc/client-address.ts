import { BlockList, isIP, isIPv4 } from "node:net";

/** Works out the client's IP from the peer address and, behind trusted proxies, X-Forwarded-For. */
export type ClientAddressResolver = (
  peer: string | undefined,
  forwardedFor: string | null,
) => string | undefined;

/**
 * Without trusted proxies the client is the socket's peer. With them, X-Forwarded-For is read from
 * the right, skipping trusted proxies; the first address that is not one is the client. A peer
 * that is not trusted is never overridden by the header.
 */
export function createClientAddressResolver(trustProxy: readonly string[]): ClientAddressResolver {
  const trusted = new BlockList();
  for (const entry of trustProxy) {
    const [address = "", prefix] = entry.split("/");
    const type = isIPv4(address) ? "ipv4" : "ipv6";
    if (prefix === undefined) {
      trusted.addAddress(address, type);
    } else {
      trusted.addSubnet(address, Number(prefix), type);
    }
  }
  const isTrusted = (address: string) => {
    const plain = unmapIPv4(address);
    return trusted.check(plain, isIPv4(plain) ? "ipv4" : "ipv6");
  };

  return (peer, forwardedFor) => {
    if (peer === undefined) {
      return undefined;
    }
    let client = unmapIPv4(peer);
    if (trustProxy.length === 0 || forwardedFor === null || !isTrusted(client)) {
      return client;
    }
    const hops = forwardedFor.split(",").map((hop) => hop.trim());
    for (let i = hops.length - 1; i >= 0 && isTrusted(client); i--) {
      const hop = hops[i] as string;
      if (isIP(hop) === 0) {
        break;
      }
      client = unmapIPv4(hop);
    }
    return client;
  };
}

/** `::ffff:10.0.0.1` (IPv4 on a dual-stack socket) is `10.0.0.1`. */
function unmapIPv4(address: string): string {
  return address.startsWith("::ffff:") && isIPv4(address.slice(7)) ? address.slice(7) : address;
}
