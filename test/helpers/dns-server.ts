import dns2 from 'dns2';

const { Packet } = dns2;

/** A DNS server on loopback answering TXT queries from a table the test edits. */
export interface TestDnsServer {
  /** `127.0.0.1:port`, for DNS_SERVERS */
  server: string;
  /** TXT records by name (lower-case, no trailing dot); each record one string, split into 255-byte parts on the wire */
  txt: Map<string, string[]>;
  /** names answered with SERVFAIL (a resolver that can't answer) */
  servfail: Set<string>;
  /** names asked for, in order */
  queries: string[];
  close(): Promise<void>;
}

export async function startTestDnsServer(): Promise<TestDnsServer> {
  const txt = new Map<string, string[]>();
  const queries: string[] = [];
  const servfail = new Set<string>();
  const dns = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      for (const q of request.questions) {
        const name = q.name.toLowerCase().replace(/\.$/, '');
        queries.push(name);
        if (servfail.has(name)) response.header.rcode = 2; // SERVFAIL (dns2 has Packet.RCODE, its types do not)
        if (q.type !== Packet.TYPE.TXT) continue;
        for (const record of txt.get(name) ?? []) {
          const parts = record.match(/.{1,255}/gs) ?? [''];
          response.answers.push({ name: q.name, type: Packet.TYPE.TXT, class: Packet.CLASS.IN, ttl: 1, data: parts } as never);
        }
      }
      void send(response);
    },
  });
  const addresses = await dns.listen({ udp: { port: 0, address: '127.0.0.1' } });
  return {
    server: `127.0.0.1:${addresses.udp!.port}`,
    txt,
    servfail,
    queries,
    close: () => dns.close(),
  };
}
