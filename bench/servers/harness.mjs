// Shared by the server processes: announce the port on stdout, then answer the
// orchestrator's requests over the IPC channel with this process's own usage.
export function serve ({ port, path, close }) {
  process.stdout.write(JSON.stringify({ port, path }) + '\n')
  process.on('message', async (msg) => {
    if (msg.cmd === 'stats') {
      if (msg.gc && global.gc) {
        global.gc()
        global.gc()
      }
      process.send({ id: msg.id, cpu: process.cpuUsage(), mem: process.memoryUsage() })
    } else if (msg.cmd === 'exit') {
      await close()
      process.exit(0) // also writes the --cpu-prof profile
    }
  })
  process.on('disconnect', () => process.exit(0))
}

export function options () {
  return process.argv[2] ? JSON.parse(process.argv[2]) : {}
}
