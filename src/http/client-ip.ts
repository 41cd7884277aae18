import type { Request } from 'express';

/**
 * The client's address as a person reads it: req.ip (X-Forwarded-For only from TRUST_PROXY
 * proxies) with an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, what a dual-stack socket
 * reports for IPv4 peers) shown as plain IPv4.
 */
export function clientIp(req: Request): string | null {
  const ip = req.ip;
  if (!ip) return null;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  return mapped ? mapped[1]! : ip;
}
