// The conformance command against a server that differs from ssp-v2 where PyRTC does: it must
// report those differences, exit non-zero, and end whatever the crash looks like.
import { test } from 'tap'
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import { CHECKS, runConformance } from '../lib/conformance/index'
import { run } from './cli-process'
import { pyrtcLike } from './pyrtc-like'

interface Report {
  results: Array<{ name: string, status: string, detail: string }>
  failed: number
}

test('conformance against a PyRTC-like server reports its differences and ends, whatever the crash looks like', async (t) => {
  const agreed = CHECKS.map((c) => c.name).filter((n) => !['cross-pool', 'invalid-json', 'empty-pool-removed', 'rate-limited'].includes(n))
  for (const crash of ['hang', 'close'] as const) {
    const server = await pyrtcLike(crash)
    t.teardown(server.close)
    // --flood adds a check after the crash: it must end too.
    // The default timeout: the checks that should pass must not fail for a loaded machine.
    const result = await run(['conformance', server.url, '--json', '--flood', '--timeout', '5000'])
    t.equal(result.code, 1, `${crash}: exit code 1`)
    const report = JSON.parse(result.stdout) as Report
    t.equal(report.failed, 3)
    const byName = Object.fromEntries(report.results.map((r) => [r.name, r]))
    for (const name of agreed) t.equal(byName[name].status, 'pass', `${crash}: ${name} passes (${byName[name].detail})`)
    t.equal(byName['cross-pool'].status, 'fail')
    t.equal(byName['cross-pool'].detail, 'relayed across pools: a member of another pool received rtc:sdp, rtc:candidate')
    t.equal(byName['invalid-json'].status, 'fail')
    t.ok(server.crashed(), `${crash}: the invalid JSON killed the server's loop`)
    t.equal(byName['empty-pool-removed'].status, 'skip')
    t.equal(byName['rate-limited'].status, 'fail', 'the check after the crash fails instead of waiting')
    if (crash === 'hang') {
      t.match(byName['invalid-json'].detail, /^no answer within 5000 ms \(waiting for rtc:error invalid-json after a frame that is not JSON\)$/)
      t.equal(byName['rate-limited'].detail, 'no answer within 5000 ms (waiting for the WebSocket handshake)', 'a handshake that never completes ends at the deadline')
    } else {
      t.match(byName['invalid-json'].detail, /^the server closed the socket \(code 1006\)/)
      t.match(byName['rate-limited'].detail, /^cannot connect to ws:\/\/127\.0\.0\.1:\d+\/: /, 'a server that is gone is reported as such')
    }
  }
})

test('a TCP server that never answers or hangs up at once: every check fails on its own, the run ends', async (t) => {
  for (const behaviour of ['silent', 'hang up'] as const) {
    const sockets: Socket[] = []
    const server = createServer((socket) => {
      sockets.push(socket)
      if (behaviour === 'hang up') socket.destroy()
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as { port: number }
    const seen: string[] = []
    const report = await runConformance({
      url: `ws://127.0.0.1:${port}/rtc`,
      poolPrefix: 't-',
      // Silent: every check ends at its deadline, however short. Hang up: a refusal, not a deadline, ends each one.
      timeout: behaviour === 'silent' ? 200 : 5000,
      flood: false,
      onResult: (r) => seen.push(r.name)
    })
    for (const s of sockets) s.destroy()
    server.close()
    t.same(seen, CHECKS.map((c) => c.name), `${behaviour}: every check reported, in order`)
    t.equal(report.failed, CHECKS.length - 2, `${behaviour}: all but the two skipped ones fail`)
    for (const r of report.results.filter((r) => r.status === 'fail')) {
      if (behaviour === 'silent') t.equal(r.detail, 'no answer within 200 ms (waiting for the WebSocket handshake)', r.name)
      else t.match(r.detail, /^cannot connect to ws:\/\/127\.0\.0\.1:\d+\/rtc: /, r.name)
    }
  }
})
