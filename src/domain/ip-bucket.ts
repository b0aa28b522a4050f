/**
 * The per-IP limit's bucket for a client address: an IPv4 address counts as itself, an IPv6
 * address as its /64 network (a subscriber holds a whole /64, so counting per address is free to
 * walk around), an IPv4-mapped IPv6 address as the IPv4 address it maps. Anything that is not an
 * IP address (a transport that names its peer otherwise) is its own bucket.
 */
export function ipBucketOf(address: string): string {
  if (IPV4.test(address)) {
    return `ip:${address}`;
  }
  const groups = ipv6Groups(address);
  if (groups === null) {
    return `ip:${address}`;
  }
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return `ip:${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  return `ip:${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
}

/**
 * The network a request came from, as limits and the failure cap count it: `ipBucketOf` its
 * address, or `unknown` when no transport said (in-process calls), which then is one network.
 */
export function networkOf(clientIp: string | undefined): string {
  return clientIp === undefined ? "unknown" : ipBucketOf(clientIp);
}

/** A dotted-quad IPv4 address. */
export const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const GROUP = /^[0-9a-f]{1,4}$/;

/** The eight 16-bit groups of an IPv6 address (zone id dropped), or null if it is not one. */
export function ipv6Groups(address: string): number[] | null {
  const text = address.toLowerCase().split("%")[0] ?? "";
  const halves = text.split("::");
  if (halves.length > 2) {
    return null;
  }
  const parse = (part: string): number[] | null => {
    if (part === "") {
      return [];
    }
    const out: number[] = [];
    const pieces = part.split(":");
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && IPV4.test(piece)) {
        const [a = 0, b = 0, c = 0, d = 0] = piece.split(".").map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else if (GROUP.test(piece)) {
        out.push(Number.parseInt(piece, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = parse(halves[0] ?? "");
  const tail = halves.length === 2 ? parse(halves[1] ?? "") : [];
  if (head === null || tail === null) {
    return null;
  }
  if (halves.length === 1) {
    return head.length === 8 ? head : null;
  }
  const missing = 8 - head.length - tail.length;
  return missing >= 1 ? [...head, ...Array<number>(missing).fill(0), ...tail] : null;
}
