import type { FastifyBaseLogger } from 'fastify'
import type { NormalizedOptions } from '../options'
import type { ClusterView } from './cluster-view'

/**
 * Drains this process's connections (fastify.close()): each is shut down (its queued frames
 * first, then 1012 and suspended when resumable, 1001 otherwise), one after another spread
 * uniformly over windowMs. Resolves once every socket is gone (its closing handshake done), or at
 * deadlineMs (what is left is shut down and terminated then). With an adapter that can move a
 * member to another process (`handOver`), suspended members are given until the deadline to
 * resume there; those that did not (and all of them with a single process) then leave.
 */
export async function drain (cluster: ClusterView, { windowMs, deadlineMs }: NormalizedOptions['drain'], log: FastifyBaseLogger, handOver = false): Promise<void> {
  const timers: NodeJS.Timeout[] = []
  const wait = (ms: number): Promise<void> => new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    timer.unref()
    timers.push(timer)
  })
  const started = performance.now()
  const deadline = wait(deadlineMs)
  const connections = Array.from(cluster.connections())
  const leaves: Array<Promise<void>> = []
  let next = 0
  const closing = (async () => {
    for (; next < connections.length; next++) {
      const due = next * windowMs / connections.length - (performance.now() - started)
      if (due >= 1) await wait(due)
      leaves.push(connections[next].shutdown())
    }
    await cluster.whenEmpty()
  })()
  await Promise.race([closing, deadline])
  for (; next < connections.length; next++) leaves.push(connections[next].shutdown())
  for (const connection of cluster.connections()) connection.endpoint.terminate()
  await cluster.whenEmpty() // a terminated socket closes at once
  if (handOver) await Promise.race([cluster.whenNoneSuspended(), deadline])
  for (const timer of timers) clearTimeout(timer)
  for (const member of Array.from(cluster.suspended())) leaves.push(member.end('shutdown'))
  await Promise.all(leaves.map((p) => p.catch((err: unknown) => log.error({ err }, 'rtc: leave failed'))))
}
