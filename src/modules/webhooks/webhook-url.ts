import dns from 'node:dns';
import net from 'node:net';

/**
 * SSRF guard for webhook URLs. A URL is checked when it is saved (scheme, and a literal address)
 * and again at every connection: the host is resolved then and every address it resolves to is
 * checked, and the connection goes to the address that was checked (no second lookup a rebinding
 * DNS server could answer differently). Redirects are not followed.
 */

const refused = new net.BlockList();
// IPv4: "this network", private (RFC 1918), carrier-grade NAT, loopback, link-local (cloud
// metadata at 169.254.169.254), IETF protocol assignments, benchmarking, multicast and reserved.
for (const [net4, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  refused.addSubnet(net4, prefix, 'ipv4');
// IPv6: unspecified, loopback, unique-local, link-local, multicast, and the IPv4-mapped,
// NAT64 and 6to4 forms (checked again as IPv4 below where they embed an address).
for (const [net6, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  refused.addSubnet(net6, prefix, 'ipv6');

/** The IPv4 address an IPv6 one carries (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::/96), if any. */
function embeddedV4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const m = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (m) return m[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex) {
    const hi = parseInt(hex[1]!, 16);
    const lo = parseInt(hex[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return undefined;
}

/** Loopback, link-local, private, unique-local or otherwise not a public unicast address. */
export function isNonPublicAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return refused.check(address, 'ipv4');
  if (family === 6) {
    const v4 = embeddedV4(address);
    if (v4) return refused.check(v4, 'ipv4');
    return refused.check(address, 'ipv6');
  }
  return true;
}

/** The host of a URL without IPv6 brackets. */
const bareHost = (u: URL) => u.hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * Why a webhook URL can't be saved, or undefined. Names resolving to non-public addresses are
 * found at delivery (the name may not resolve from here, or may change); `localhost` is known.
 */
export function webhookUrlProblem(raw: string, allowPrivate: boolean): string | undefined {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'is not a valid URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (u.username || u.password) return 'must not carry a user name or password';
  if (raw.length > 2000) return 'is longer than 2000 characters';
  if (allowPrivate) return undefined;
  const host = bareHost(u).toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return `points to a loopback address (${host}); set WEBHOOK_ALLOW_PRIVATE=true to allow it`;
  if (net.isIP(host) && isNonPublicAddress(host))
    return `points to a loopback, link-local or private address (${host}); set WEBHOOK_ALLOW_PRIVATE=true to allow it`;
  return undefined;
}

export class RefusedAddressError extends Error {
  code = 'EWEBHOOKREFUSED';
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request/https.request that resolves every address of the host and refuses
 * the connection when any of them is not public (unless allowed).
 */
export function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const list = addresses as dns.LookupAddress[];
      if (!allowPrivate) {
        const bad = list.find((a) => isNonPublicAddress(a.address));
        if (bad) return callback(new RefusedAddressError(`refused: ${hostname} resolves to a non-public address (${bad.address})`), '');
      }
      if (options.all) return callback(null, list);
      const first = list[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
      callback(null, first.address, first.family);
    });
  };
}
