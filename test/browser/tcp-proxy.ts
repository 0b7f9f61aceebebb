// A tiny TCP load balancer for the browser tests, on 127.0.0.1 and a free port: each accepted
// connection is piped to one backend port of a list that the test may change at any time
// (round robin); a backend that refuses the connection is skipped. It knows nothing of HTTP, so
// page loads and WebSocket upgrades pass through untouched, as through a TCP balancer in front of
// a rolling deploy.

import { once } from 'node:events'
import net from 'node:net'

export class TcpProxy {
  readonly #server: net.Server
  readonly #sockets = new Set<net.Socket>()
  #backends: number[] = []
  #next = 0
  #port = 0

  private constructor (server: net.Server) {
    this.#server = server
    server.on('connection', (client) => this.#accept(client))
  }

  static async start (backends: number[] = []): Promise<TcpProxy> {
    const proxy = new TcpProxy(net.createServer())
    proxy.setBackends(backends)
    proxy.#server.listen(0, '127.0.0.1')
    await once(proxy.#server, 'listening')
    proxy.#port = (proxy.#server.address() as net.AddressInfo).port
    return proxy
  }

  /** The port it listens on (127.0.0.1). */
  get port (): number {
    return this.#port
  }

  /** From now on, new connections go to these ports (connections already made stay where they are). */
  setBackends (ports: number[]): void {
    this.#backends = [...ports]
  }

  /** Stops listening and destroys every connection, both sides. */
  async close (): Promise<void> {
    const closed = once(this.#server, 'close')
    this.#server.close()
    for (const socket of this.#sockets) socket.destroy()
    await closed
  }

  #track (socket: net.Socket): void {
    this.#sockets.add(socket)
    socket.once('close', () => this.#sockets.delete(socket))
  }

  #accept (client: net.Socket): void {
    this.#track(client)
    client.on('error', () => client.destroy()) // a reset by the browser: nothing to tell it
    // Round robin: the next backend first, then the others in turn while they refuse.
    const start = this.#next++
    const order = this.#backends.map((_, i) => this.#backends[(start + i) % this.#backends.length])
    this.#connect(client, order)
  }

  #connect (client: net.Socket, order: number[]): void {
    const [port, ...rest] = order
    if (port === undefined || client.destroyed) {
      client.destroy() // no backend up: the client sees a reset, as from a balancer with none healthy
      return
    }
    const upstream = net.connect(port, '127.0.0.1')
    this.#track(upstream)
    // Either side closing or failing ends the other: a reset is passed on as a reset, an end
    // after what is left to write.
    const abandon = (): void => { upstream.destroy() }
    client.once('close', abandon)
    upstream.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNREFUSED') return client.destroy()
      client.removeListener('close', abandon)
      this.#connect(client, rest)
    })
    upstream.once('connect', () => {
      // Bytes both ways (the client's, read only now, were held in its buffer meanwhile).
      client.pipe(upstream)
      upstream.pipe(client)
      upstream.once('close', () => client.end())
    })
  }
}
