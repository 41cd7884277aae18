import dns2 from 'dns2';

const { Packet } = dns2;

/**
 * A DNS server on loopback answering TXT, MX, A and AAAA queries from tables the test edits.
 * A name in none of the tables (nor `nxdomain`) exists with no records of the type asked (NODATA).
 */
export interface TestDnsServer {
  /** `127.0.0.1:port`, for DNS_SERVERS */
  server: string;
  /** TXT records by name (lower-case, no trailing dot); each record one string, split into 255-byte parts on the wire */
  txt: Map<string, string[]>;
  /** MX records by domain; an exchange of '.' is a null MX (RFC 7505) */
  mx: Map<string, { exchange: string; priority: number }[]>;
  /** A records (IPv4 addresses) by name */
  a: Map<string, string[]>;
  /** AAAA records (IPv6 addresses) by name */
  aaaa: Map<string, string[]>;
  /** names answered with NXDOMAIN (the name does not exist) */
  nxdomain: Set<string>;
  /** names answered with SERVFAIL (a resolver that can't answer) */
  servfail: Set<string>;
  /** names asked for, in order */
  queries: string[];
  close(): Promise<void>;
}

export async function startTestDnsServer(): Promise<TestDnsServer> {
  const txt = new Map<string, string[]>();
  const mx = new Map<string, { exchange: string; priority: number }[]>();
  const a = new Map<string, string[]>();
  const aaaa = new Map<string, string[]>();
  const nxdomain = new Set<string>();
  const queries: string[] = [];
  const servfail = new Set<string>();
  const dns = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      for (const q of request.questions) {
        const name = q.name.toLowerCase().replace(/\.$/, '');
        queries.push(name);
        // dns2 has Packet.RCODE, its types do not
        if (servfail.has(name)) {
          response.header.rcode = 2; // SERVFAIL
          continue;
        }
        if (nxdomain.has(name)) {
          response.header.rcode = 3; // NXDOMAIN
          continue;
        }
        const base = { name: q.name, class: Packet.CLASS.IN, ttl: 1 };
        if (q.type === Packet.TYPE.TXT) {
          for (const record of txt.get(name) ?? []) {
            const parts = record.match(/.{1,255}/gs) ?? [''];
            response.answers.push({ ...base, type: Packet.TYPE.TXT, data: parts } as never);
          }
        } else if (q.type === Packet.TYPE.MX) {
          for (const r of mx.get(name) ?? []) response.answers.push({ ...base, type: Packet.TYPE.MX, exchange: r.exchange, priority: r.priority } as never);
        } else if (q.type === Packet.TYPE.A) {
          for (const address of a.get(name) ?? []) response.answers.push({ ...base, type: Packet.TYPE.A, address } as never);
        } else if (q.type === Packet.TYPE.AAAA) {
          for (const address of aaaa.get(name) ?? []) response.answers.push({ ...base, type: Packet.TYPE.AAAA, address } as never);
        }
      }
      void send(response);
    },
  });
  const addresses = await dns.listen({ udp: { port: 0, address: '127.0.0.1' } });
  return {
    server: `127.0.0.1:${addresses.udp!.port}`,
    txt,
    mx,
    a,
    aaaa,
    nxdomain,
    servfail,
    queries,
    close: () => dns.close(),
  };
}
