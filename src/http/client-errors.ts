import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { AppError, gatewayBadRequest } from '../shared/errors.ts';

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Payload Too Large', 431: 'Request Header Fields Too Large' };

function refusalOf(code: string | undefined): AppError | undefined {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new AppError(431, '100', 'Request Header Fields Too Large (the request line and headers may hold 16 KB in all; a long query string counts)', true);
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new AppError(413, '430', 'Request Entity Too Large', true);
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new AppError(408, '100', 'Request Timeout', true);
    case 'ECONNRESET':
      return undefined;
    default:
      return gatewayBadRequest();
  }
}

/**
 * Requests Node's HTTP parser refuses before Express sees them (a query string over the 16 KB
 * header limit, a bad chunk size, a malformed request line) are answered by Node with a bare
 * status line and no body. These get the gateway error body every other refusal has
 * (`{"error":{"errorCode","message"}}`) and the connection is closed, as Node would.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const refusal = refusalOf(err.code);
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
    if (!refusal || !socket.writable || inFlight) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify({ error: { errorCode: refusal.code, message: refusal.message } });
    socket.end(
      `HTTP/1.1 ${refusal.status} ${REASONS[refusal.status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
