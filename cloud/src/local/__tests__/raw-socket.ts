/** Raw TCP connections to a local server, for tests of what it does with slow, held or refused connections. */
import { connect } from 'node:net';
import type { Socket } from 'node:net';

/** A raw connection, with everything it receives and whether it was closed. */
export interface Raw {
  readonly socket: Socket;
  received(): string;
  readonly closed: Promise<'closed'>;
}

/** Connects to 127.0.0.1:`port` (from `localAddress` when given), adding the socket to `opened` for the test's cleanup. */
export function openRaw(port: number, opened: Socket[], localAddress?: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = connect({ host: '127.0.0.1', port, ...(localAddress === undefined ? {} : { localAddress }) });
    opened.push(socket);
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      text += d;
    });
    const closed = new Promise<'closed'>((done) => {
      socket.once('close', () => {
        done('closed');
      });
    });
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      resolve({ socket, received: () => text, closed });
    });
    socket.once('error', reject);
  });
}

/** `p`, or 'still open' when it has not settled within `ms`. */
export const within = <T>(ms: number, p: Promise<T>): Promise<T | 'still open'> =>
  Promise.race([
    p,
    new Promise<'still open'>((r) => {
      setTimeout(() => {
        r('still open');
      }, ms);
    }),
  ]);
