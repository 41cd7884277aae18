const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
/**
 * A dot-atom at a lower-case LDH domain whose last label starts with a letter: what nodemailer's
 * envelope parsing (MimeNode._normalizeAddress) returns unchanged. A quoted or non-ASCII local
 * part, an upper-case or internationalised (xn--) domain, a numeric last label (taken for an
 * IPv4 address) or a domain literal is left to it (test/unit/plain-address.test.ts compares the
 * two). Such an address can be used as it is where nodemailer would parse it: an envelope handed
 * to its pool (raw-pool-send.ts), the From whose domain a Message-ID takes (compose-message.ts).
 */
const PLAIN_ADDRESS = new RegExp(`^${ATOM}(?:\\.${ATOM})*@(?:${LABEL}\\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$`);

export function isPlainAddress(address: string): boolean {
  return address.length <= 254 && PLAIN_ADDRESS.test(address) && !address.includes('xn--');
}
