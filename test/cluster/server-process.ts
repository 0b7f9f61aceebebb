// One signalling server process of a test cluster:
//   node --import tsx test/cluster/server-process.ts '{"url":"redis://127.0.0.1:6379","prefix":"t:","ttl":1500}'
// Prints {"port","node"} as one line on stdout once listening; then answers commands from its parent
// over IPC ({ id, cmd, args }) with { id, ok, result } or { id, ok: false, error: { code, message } }.
import Fastify from 'fastify'
import type { ClusterAdapter } from '../../lib/adapters/cluster/adapter'
import rtcSignal, { redisAdapter } from '../../lib/index'

interface Settings {
  /** One Redis server, or (`cluster`) some nodes of a Redis Cluster. */
  url?: string
  cluster?: Array<{ host: string, port: number }>
  prefix: string
  ttl?: number
  privatePools?: boolean
}

interface Command {
  id: number
  cmd: string
  args: any[]
}

const MAX_LOG_LINES = 2000

async function main (): Promise<void> {
  const settings = JSON.parse(process.argv[2] ?? '{}') as Settings
  const logs: string[] = []
  const logWaiters = new Set<(line: string) => void>()
  const app = Fastify({
    logger: {
      level: 'info',
      // Kept in memory so the test can check what was logged (the outage, once), or await a line.
      stream: {
        write: (line: string) => {
          logs.push(line)
          if (logs.length > MAX_LOG_LINES) logs.shift()
          for (const waiter of logWaiters) waiter(line)
        }
      }
    }
  })
  /** Resolves with the `count`-th line matching `pattern` (already logged, or when it is). */
  const waitLog = (pattern: string, count = 1): unknown => {
    const re = new RegExp(pattern)
    const seen = logs.filter((line) => re.test(line))
    if (seen.length >= count) return JSON.parse(seen[count - 1])
    let missing = count - seen.length
    return new Promise((resolve) => {
      const waiter = (line: string): void => {
        if (!re.test(line) || --missing > 0) return
        logWaiters.delete(waiter)
        resolve(JSON.parse(line))
      }
      logWaiters.add(waiter)
    })
  }
  const adapter = redisAdapter({ url: settings.url, cluster: settings.cluster, prefix: settings.prefix, ttl: settings.ttl }) as ClusterAdapter
  /** Resolves once `count` more liveness rounds (heartbeat and reaping) have finished. */
  const waitReaps = (count = 1): Promise<null> => new Promise((resolve) => {
    let left = count
    const onReap = (): void => {
      if (--left > 0) return
      adapter.removeListener('reap', onReap)
      resolve(null)
    }
    adapter.on('reap', onReap)
  })
  await app.register(rtcSignal, {
    privatePools: settings.privatePools ?? false,
    rateLimit: false,
    heartbeatInterval: 0,
    adapter,
    joinHook: (request) => {
      const name = (request.query as Record<string, string | undefined>).name
      return name === undefined ? undefined : { description: { name } }
    }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  process.stdout.write(`${JSON.stringify({ port: address.port, node: app.rtcPools.node })}\n`)

  const pools = app.rtcPools
  const commands: Record<string, (...args: any[]) => unknown> = {
    createPool: (name: string, opts?: { maxMembers?: number }) => pools.createPool(name, opts),
    closePool: (name: string) => pools.closePool(name),
    kick: (id: string, reason?: string) => pools.kick(id, reason),
    describe: (id: string, description: unknown) => pools.describe(id, description),
    send: (id: string, type: string, data: unknown) => pools.send(id, type, data),
    get: (name: string) => pools.get(name),
    list: () => pools.list(),
    stats: () => pools.stats(),
    logs: (pattern: string) => logs.filter((line) => new RegExp(pattern).test(line)).map((line) => JSON.parse(line) as unknown),
    waitLog,
    waitReaps,
    exit: async () => {
      await app.close()
      setImmediate(() => process.exit(0))
    }
  }
  process.on('message', (msg: Command) => {
    const run = commands[msg.cmd]
    Promise.resolve()
      .then(() => {
        if (run === undefined) throw new Error(`unknown command ${msg.cmd}`)
        return run(...msg.args)
      })
      .then(
        (result) => process.send?.({ id: msg.id, ok: true, result: result ?? null }),
        (err: Error & { code?: string }) => process.send?.({ id: msg.id, ok: false, error: { code: err.code, message: err.message } })
      )
  })
  process.on('disconnect', () => { app.close().finally(() => process.exit(0)) })
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`)
  process.exit(1)
})
