// Shared by the server processes: announce the port on stdout, then answer the
// orchestrator's requests over the IPC channel: this process's own CPU and
// memory usage (after a forced GC if asked), CPU profiles of a measured phase,
// and what a server adds (plugin.mjs: its suspended members).
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { PerformanceObserver } from 'node:perf_hooks'

let session = null
let gcMs = 0 // time spent in garbage collection since start
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration
}).observe({ entryTypes: ['gc'] })

const commands = {
  async stats ({ gc }) {
    if (gc && global.gc) {
      global.gc()
      global.gc()
    }
    return { cpu: process.cpuUsage(), mem: process.memoryUsage(), gcMs }
  },
  async 'profile-start' () {
    session = new Session()
    session.connect()
    await session.post('Profiler.enable')
    await session.post('Profiler.start')
    return {}
  },
  async 'profile-stop' ({ file }) {
    const { profile } = await session.post('Profiler.stop')
    session.disconnect()
    writeFileSync(file, JSON.stringify(profile))
    return {}
  }
}

/** `extra`: more commands, by name (async, given the request, returning an object to answer with). */
export function serve ({ port, path, close, extra = {} }) {
  process.stdout.write(JSON.stringify({ port, path }) + '\n')
  process.on('message', async (msg) => {
    if (msg.cmd === 'exit') {
      await close()
      process.exit(0)
    }
    process.send({ id: msg.id, ...await (extra[msg.cmd] ?? commands[msg.cmd])(msg) })
  })
  process.on('disconnect', () => process.exit(0))
}

export function options () {
  return process.argv[2] ? JSON.parse(process.argv[2]) : {}
}

/** `serve` for a bare `ws` WebSocketServer (the baseline and the ceiling), on `/rtc`. */
export function serveWss (wss) {
  serve({
    port: wss.address().port,
    path: '/rtc',
    close: () => new Promise((resolve) => {
      for (const ws of wss.clients) ws.terminate()
      wss.close(resolve)
    })
  })
}
