#!/usr/bin/env node
// What each idle connection keeps on the JS heap, by kind of object: a heap snapshot before and one
// after N connections (joined, or not with --unjoined, or joined with resume: true and then cut with
// --suspended: what a suspended member keeps), diffed, per connection. The server runs in
// this process (the plugin as the bench runs it, or the naive relay, or the ceiling); the clients in
// a child process, so that their objects stay out of the snapshots.
// usage: node --expose-gc bench/heap.mjs [plugin|baseline|ceiling] [--connections 1000] [--unjoined | --suspended] [--dist DIR] [--top 40]
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import v8 from 'node:v8'
import { joinMany, table, terminate, waitFor } from './lib.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { connections: { type: 'string', default: '1000' }, unjoined: { type: 'boolean' }, suspended: { type: 'boolean' }, dist: { type: 'string' }, top: { type: 'string', default: '40' }, client: { type: 'string' } }
})

if (values.client !== undefined) { // the child: connect, report, wait to be told to go
  const members = await joinMany(values.client, Number(values.connections), (i) => `p${Math.floor(i / 4)}`, { join: !values.unjoined, resume: values.suspended })
  if (values.suspended) terminate(members) // no close frame: each member is suspended
  process.send('ready')
  process.on('message', () => {
    for (const m of members) m.ws.terminate()
    process.exit(0)
  })
} else {
  if (global.gc === undefined) throw new Error('run with node --expose-gc')
  const kind = positionals[0] ?? 'plugin'
  const n = Number(values.connections)
  let url
  let close
  let suspended = 0 // members suspended so far (plugin, --suspended)
  if (kind === 'plugin') {
    const { default: Fastify } = await import('fastify')
    const { default: pino } = await import('pino')
    const mod = await import(path.resolve(values.dist ?? path.join(here, '..', 'dist'), 'index.js'))
    const app = Fastify({ logger: { level: 'info', stream: pino.destination({ dest: '/dev/null', sync: true }) } })
    await app.register(mod.default.default ?? mod.default, { privatePools: false, maxConnections: 30_000, maxConnectionsPerIp: 30_000, resume: { graceMs: 600_000 } })
    app.rtcPools.on('suspend', () => { suspended++ })
    await app.listen({ host: '127.0.0.1', port: 0 })
    url = `ws://127.0.0.1:${app.server.address().port}/rtc`
    close = () => app.close()
  } else {
    const { startBaseline } = await import('./baseline/server.mjs')
    const { attachCeiling } = await import('./baseline/ceiling.mjs')
    const wss = await startBaseline(kind === 'ceiling' ? { attach: attachCeiling } : {})
    if (values.suspended) throw new Error('--suspended: only the plugin resumes')
    url = `ws://127.0.0.1:${wss.address().port}/rtc`
    close = () => new Promise((resolve) => {
      for (const ws of wss.clients) ws.terminate()
      wss.close(resolve)
    })
  }
  const snapshot = () => {
    global.gc()
    global.gc()
    const file = v8.writeHeapSnapshot(path.join(os.tmpdir(), `bench-heap-${process.pid}-${Date.now()}.heapsnapshot`))
    const counts = kinds(JSON.parse(readFileSync(file, 'utf8')))
    rmSync(file)
    return counts
  }
  const before = snapshot()
  const child = fork(fileURLToPath(import.meta.url), ['--client', url, '--connections', String(n), ...(values.unjoined ? ['--unjoined'] : []), ...(values.suspended ? ['--suspended'] : [])])
  await once(child, 'message')
  if (values.suspended) await waitFor(() => suspended >= n, 60_000, `${n} members suspended`)
  const after = snapshot()
  const rows = []
  let total = 0
  for (const [name, [count, bytes]] of after) {
    const [count0, bytes0] = before.get(name) ?? [0, 0]
    if (name === 'code') continue // compiled code: grows with what ran, not with what is kept
    total += (bytes - bytes0) / n
    rows.push([name, (count - count0) / n, (bytes - bytes0) / n])
  }
  rows.sort((a, b) => b[2] - a[2])
  console.log(`${kind}: ${n} ${values.suspended ? 'suspended members' : `idle ${values.unjoined ? 'unjoined' : 'joined'} connections`}: ${total.toFixed(0)} bytes of JS heap each (compiled code left out)`)
  console.log(table([['kept per connection', 'objects', 'bytes'], ...rows.slice(0, Number(values.top)).map(([k, c, b]) => [k, c.toFixed(2), b.toFixed(0)])]))
  child.send('exit')
  await once(child, 'exit')
  await close()
}

/** Objects in a heap snapshot by kind (constructor name for objects and closures): name → [count, self bytes]. */
function kinds (snap) {
  const fields = snap.snapshot.meta.node_fields
  const types = snap.snapshot.meta.node_types[0]
  const [type, name, size] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f))
  const counts = new Map()
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const t = types[snap.nodes[i + type]]
    const key = t === 'object' || t === 'closure' ? `${t} ${snap.strings[snap.nodes[i + name]] || '(anonymous)'}` : t
    const entry = counts.get(key) ?? [0, 0]
    entry[0]++
    entry[1] += snap.nodes[i + size]
    counts.set(key, entry)
  }
  return counts
}
