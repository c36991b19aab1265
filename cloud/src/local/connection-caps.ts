/**
 * Caps on the connections `xp start`'s servers hold: overall (XP_MAX_CONNECTIONS) and per client
 * address (XP_MAX_CONNECTIONS_PER_ADDRESS). Without them, thousands of slow connections from one
 * machine took every file descriptor and other clients' connections were reset. A connection over
 * a cap is answered at once (503, Retry-After, Connection: close, the API's error body) and closed:
 * the client reads why, not a reset; the HTTP server never sees it.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { AppErrorCode } from '../errors.js';
import { clientKey } from '../auth/rate-limit.js';

export interface ConnectionLimits {
  /** Connections open at once, all clients together. */
  readonly maxConnections: number;
  /** Connections open at once from one client address (clientKey: an IPv4-mapped address as IPv4, an IPv6 one by its /64). */
  readonly maxConnectionsPerAddress: number;
}

/** XP_MAX_CONNECTIONS's default: below a 20,000 file-descriptor limit, with room for the database's files. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/**
 * XP_MAX_CONNECTIONS_PER_ADDRESS's default: above the streams one SDK key may hold in one process
 * (900, all but a tenth of the 1,000 streams; sdk-routes.ts), so one SDK server, or a whole office
 * behind one NAT address, holding its streams still has connections left for its other requests.
 */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 1_000;
/** Retry-After of a connection refused over a cap. */
export const CONNECTION_RETRY_SECONDS = 5;
/** How long a refused connection is kept (reading and discarding) so that the client reads the 503 rather than a reset. */
const REFUSED_LINGER_MS = 1_000;

function refusal(message: string): string {
  const body = JSON.stringify({ error: { code: AppErrorCode.Unavailable, message } });
  return `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nretry-after: ${CONNECTION_RETRY_SECONDS}\r\nconnection: close\r\n\r\n${body}`;
}

const TOO_MANY = refusal('the server holds as many connections as it accepts; retry in a moment');
const TOO_MANY_FROM_ADDRESS = refusal('your address holds as many connections as one address may; close some, then retry');

/** The connections a capped server holds, for tests and health output. */
export interface ConnectionCount {
  open(): number;
  openFrom(address: string): number;
}

/**
 * Puts `server` behind the caps: its own 'connection' listeners (the HTTP server's) run only for a
 * connection within them. Call it right after the server is created, before it accepts any.
 */
export function capConnections(server: Server, limits: ConnectionLimits): ConnectionCount {
  let open = 0;
  const byAddress = new Map<string, number>();
  const accept = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    // An IPv6 client by its /64, as the login limits count it: one host is usually given a whole /64.
    const address = clientKey(socket.remoteAddress ?? 'unknown');
    const held = byAddress.get(address) ?? 0;
    if (open >= limits.maxConnections || held >= limits.maxConnectionsPerAddress) {
      refuse(socket, open >= limits.maxConnections ? TOO_MANY : TOO_MANY_FROM_ADDRESS);
      return;
    }
    open++;
    byAddress.set(address, held + 1);
    socket.once('close', () => {
      open--;
      const left = (byAddress.get(address) ?? 1) - 1;
      if (left <= 0) {
        byAddress.delete(address);
      } else {
        byAddress.set(address, left);
      }
    });
    for (const listener of accept) {
      listener.call(server, socket);
    }
  });
  return { open: () => open, openFrom: (address) => byAddress.get(clientKey(address)) ?? 0 };
}

/**
 * Answers 503 and closes. What the client sends meanwhile is read and dropped: closing a socket
 * with unread data resets the connection, and the client might lose the answer with it.
 */
function refuse(socket: Socket, answer: string): void {
  socket.on('error', () => undefined);
  const linger = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
  linger.unref();
  socket.once('close', () => {
    clearTimeout(linger);
  });
  socket.end(answer);
  socket.resume();
}
