// NCP API Gateway signature v2 with Web Crypto, for the /docs page (and any browser client):
// Base64(HMAC-SHA256(secret, "{METHOD} {path?query}\n{timestamp}\n{accessKey}")), the same
// string src/http/signature.ts verifies. Plain JavaScript (an ES module) so the browser loads
// it as served; test/unit/docs-signing.test.ts checks it against the server's signRequest.

/** Web Crypto's subtle API exists only in secure contexts (https, or http on localhost). */
export function canSign() {
  return typeof globalThis.crypto !== 'undefined' && typeof globalThis.crypto.subtle !== 'undefined';
}

function base64(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

export async function signRequest(secret, method, target, timestamp, accessKey) {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = await crypto.subtle.sign('HMAC', key, enc.encode(`${method.toUpperCase()} ${target}\n${timestamp}\n${accessKey}`));
  return base64(new Uint8Array(mac));
}

/** The request target as the browser will send it: path and query, percent-encoded, no host. */
export function requestTarget(url, base) {
  const u = new URL(url, base);
  return u.pathname + u.search;
}

/** The three headers that sign a request to `url` (absolute, or relative to `base`). */
export async function signatureHeaders({ accessKey, secretKey, method, url, base, now = Date.now() }) {
  const timestamp = String(now);
  return {
    'x-ncp-apigw-timestamp': timestamp,
    'x-ncp-iam-access-key': accessKey,
    'x-ncp-apigw-signature-v2': await signRequest(secretKey, method, requestTarget(url, base), timestamp, accessKey),
  };
}
