import crypto from 'node:crypto';

/**
 * NCP API Gateway signature v2:
 * Base64(HMAC-SHA256(secret, "{METHOD} {path?query}\n{timestamp}\n{accessKey}")).
 * The request target is signed as sent: never decode or re-encode it before verifying.
 */
export function signRequest(secret: string, method: string, target: string, timestamp: string, accessKey: string): string {
  return crypto.createHmac('sha256', secret).update(`${method.toUpperCase()} ${target}\n${timestamp}\n${accessKey}`).digest('base64');
}

export const MAX_SKEW_MS = 5 * 60 * 1000;

export type SignatureCheck = 'ok' | 'skew' | 'mismatch';

export function verifySignature(input: {
  secret: string;
  method: string;
  target: string;
  timestamp: string;
  accessKey: string;
  signature: string;
  now: number;
}): SignatureCheck {
  if (!/^\d{1,16}$/.test(input.timestamp)) return 'skew';
  if (Math.abs(input.now - Number(input.timestamp)) >= MAX_SKEW_MS) return 'skew';
  const expected = Buffer.from(signRequest(input.secret, input.method, input.target, input.timestamp, input.accessKey));
  const given = Buffer.from(input.signature);
  return expected.length === given.length && crypto.timingSafeEqual(expected, given) ? 'ok' : 'mismatch';
}
