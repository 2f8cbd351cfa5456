/**
 * A tiny TCP proxy (127.0.0.1, a fixed port once started) in front of a server, for network
 * outages: `cut()` resets every open connection and stops listening, so new connections are
 * refused (ECONNREFUSED, as when the server is down); `restore()` listens on the same port again.
 *
 *   const proxy = await startTcpProxy({ host: '127.0.0.1', port: 27017 });
 *   // point the client at proxy.address ...
 *   await proxy.cut();      // the server "goes down"
 *   await proxy.restore();  // and comes back
 *
 * For MongoDB, connect with `directConnection=true`: a replica set member announces its own
 * address (hello `hosts`/`me`), which the driver would otherwise use instead of the proxy's.
 */
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** `host:port` of the proxy. */
  readonly address: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Whether the proxy refuses connections (between cut() and restore()). */
  readonly isCut: boolean;
  /** Resets every open connection and stops listening: new connections are refused. */
  cut(): Promise<void>;
  /** Listens on the same port again. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

function resetSocket(socket: Socket): void {
  if (typeof socket.resetAndDestroy === 'function' && !socket.destroyed && socket.readyState !== 'opening') socket.resetAndDestroy();
  else socket.destroy();
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const host = '127.0.0.1';
  const sockets = new Set<Socket>();
  let accepted = 0;
  let server: Server | undefined;
  let port = 0;

  const onConnection = (client: Socket): void => {
    accepted++;
    const upstream = createConnection({ host: target.host, port: target.port });
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  };

  const listen = async (): Promise<void> => {
    const s = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, host, () => {
        s.off('error', reject);
        resolve();
      });
    });
    const address = s.address();
    if (address === null || typeof address === 'string') throw new Error('tcp proxy: no TCP address');
    port = address.port;
    server = s;
  };

  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const socket of sockets) resetSocket(socket);
    sockets.clear();
    if (s !== undefined) await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await listen();
  return {
    host,
    get port() {
      return port;
    },
    get address() {
      return `${host}:${port}`;
    },
    get accepted() {
      return accepted;
    },
    get isCut() {
      return server === undefined;
    },
    cut: stop,
    async restore() {
      if (server === undefined) await listen();
    },
    close: stop,
  };
}
