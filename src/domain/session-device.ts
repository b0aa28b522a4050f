import { IPV4, ipv6Groups } from "./ip-bucket.js";

/** The most of a User-Agent a session keeps, in code points (SPEC: user_agent). */
export const USER_AGENT_LIMIT = 256;

/**
 * The network a session is shown as coming from: an IPv4 address as its /24 (`203.0.113.0/24`),
 * an IPv6 address as its /48 (`2001:db8:1::/48`), an IPv4-mapped IPv6 address as IPv4. Only this
 * masked form is ever stored: enough for a person to tell their devices apart, not an address.
 * Empty for no address, or one that is not an IP address (a transport naming its peer otherwise).
 */
export function clientNetworkOf(address: string | undefined): string {
  if (address === undefined) {
    return "";
  }
  if (IPV4.test(address)) {
    return ipv4Network(address);
  }
  const groups = ipv6Groups(address);
  if (groups === null) {
    return "";
  }
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return ipv4Network(`${high >> 8}.${high & 0xff}.${low >> 8}`);
  }
  return `${ipv6Text([...groups.slice(0, 3), 0, 0, 0, 0, 0])}/48`;
}

/** A User-Agent as a session keeps it: at most USER_AGENT_LIMIT code points; empty for none. */
export function userAgentOf(header: string | null | undefined): string {
  if (header === null || header === undefined) {
    return "";
  }
  const codePoints = Array.from(header.trim());
  return codePoints.length <= USER_AGENT_LIMIT
    ? header.trim()
    : codePoints.slice(0, USER_AGENT_LIMIT).join("");
}

/** `a.b.c.0/24` from an IPv4 address (or its first three octets). */
function ipv4Network(address: string): string {
  const [a, b, c] = address.split(".");
  return `${a}.${b}.${c}.0/24`;
}

/** RFC 5952 text of eight groups: lower-case hex, the longest run of two or more zeros as `::`. */
function ipv6Text(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length; ) {
    let j = i;
    while (j < groups.length && groups[j] === 0) {
      j++;
    }
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) {
    return hex.join(":");
  }
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLength).join(":");
  return `${head}::${tail}`;
}
