/**
 * Is an IP address one that a customer-supplied webhook may reach? Only globally routable unicast
 * addresses are: private (RFC 1918, ULA), shared (CGNAT), loopback, link-local, unspecified,
 * multicast, documentation, benchmarking and reserved ranges all point inside someone's network or
 * nowhere. The ranges follow the IANA special-purpose registries; range matching is Node's
 * net.BlockList (no library needed for this).
 */
import net from 'node:net';

/** IPv4 ranges that are not globally reachable unicast. */
const NON_PUBLIC_IPV4: ReadonlyArray<readonly [string, number]> = [
  ['0.0.0.0', 8], // "this network", includes the unspecified 0.0.0.0
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // shared address space (CGNAT)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata services live here)
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.88.99.0', 24], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, includes the broadcast 255.255.255.255
];

/**
 * IPv6 ranges inside global unicast (2000::/3) that are not globally reachable, or that embed an
 * IPv4 address a relay would reach on our behalf. Everything outside 2000::/3 (::, ::1, fc00::/7,
 * fe80::/10, ff00::/8, the discard and local-use NAT64 prefixes…) is refused anyway, except the
 * IPv4-mapped and well-known NAT64 forms, which are judged by the IPv4 address they carry.
 */
const NON_PUBLIC_IPV6_IN_GLOBAL: ReadonlyArray<readonly [string, number]> = [
  ['2001::', 23], // IETF protocol assignments (Teredo, benchmarking, ORCHID…)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: the relay would reach the embedded IPv4 address
  ['3fff::', 20], // documentation (RFC 9637)
];

function blockList(ranges: ReadonlyArray<readonly [string, number]>, family: 'ipv4' | 'ipv6'): net.BlockList {
  const list = new net.BlockList();
  for (const [network, prefix] of ranges) list.addSubnet(network, prefix, family);
  return list;
}

const nonPublicIpv4 = blockList(NON_PUBLIC_IPV4, 'ipv4');
const globalUnicastIpv6 = blockList([['2000::', 3]], 'ipv6');
const nonPublicIpv6 = blockList(NON_PUBLIC_IPV6_IN_GLOBAL, 'ipv6');

/** The eight 16-bit words of a valid IPv6 address (as net.isIPv6 accepts it, without a zone id). */
function ipv6Words(address: string): number[] {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (net.isIPv4(tail)) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const headWords = head ? head.split(':') : [];
  const restWords = rest ? rest.split(':') : [];
  const words = rest === undefined ? headWords : [...headWords, ...Array<string>(8 - headWords.length - restWords.length).fill('0'), ...restWords];
  return words.map((word) => Number.parseInt(word, 16));
}

/** The IPv4 address carried by an IPv4-mapped (::ffff:a.b.c.d) or well-known NAT64 (64:ff9b::a.b.c.d) address. */
function embeddedIpv4(address: string): string | undefined {
  const w = ipv6Words(address);
  const mapped = w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff;
  const nat64 = w[0] === 0x64 && w[1] === 0xff9b && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0;
  if (!mapped && !nat64) return undefined;
  const [high = 0, low = 0] = [w[6], w[7]];
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/**
 * True for a globally reachable unicast IPv4 or IPv6 address; false for anything else, including
 * strings that are not IP addresses and scoped addresses (fe80::1%eth0). Accepts an IPv6 address
 * with or without the brackets of a URL host.
 */
export function isPublicAddress(value: string): boolean {
  const address = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  // A zone id only means something for link-local and other scoped addresses.
  if (address.includes('%')) return false;
  switch (net.isIP(address)) {
    case 4:
      return !nonPublicIpv4.check(address, 'ipv4');
    case 6: {
      const ipv4 = embeddedIpv4(address);
      if (ipv4 !== undefined) return !nonPublicIpv4.check(ipv4, 'ipv4');
      return globalUnicastIpv6.check(address, 'ipv6') && !nonPublicIpv6.check(address, 'ipv6');
    }
    default:
      return false;
  }
}
