import { test } from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { COMMAND, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TURN_TTL, envName, FLAGS, iceConfigFromEnv, parseCommand, usage, UsageError, type CliConfig, type Command } from '../lib/cli/args'
import { iceServersOption } from '../lib/cli/ice'
import { turnRestCredential } from '../lib/index'
import { CHECKS } from '../lib/conformance/index'
import { run, start } from './cli-process'
import { Client } from './helpers'

function serve (argv: string[], env: NodeJS.ProcessEnv = {}): CliConfig {
  const command = parseCommand(argv, env)
  if (command.command !== 'serve') throw new Error(`expected serve, got ${command.command}`)
  return command.config
}

// ---------------------------------------------------------------------------------------------
// The option mapping (pure)

test('no flag and no variable: the documented defaults, plugin options left to the plugin', async (t) => {
  t.same(serve([]), {
    listen: { port: DEFAULT_PORT, host: DEFAULT_HOST },
    pluginOptions: {},
    redis: null,
    pools: [],
    logLevel: 'info',
    ice: { stun: [], turnUrls: [], turnSecrets: [], turnSecretFile: null, turnTtl: DEFAULT_TURN_TTL },
    metrics: false
  })
})

test('every flag lands in the config', async (t) => {
  t.same(serve([
    '--port', '1234', '--host', '127.0.0.1', '--prefix', '/signal', '--public', '--pool', 'a', '--pool', 'b',
    '--demo', '--redis', 'redis://10.0.0.5:6379', '--allowed-origins', 'https://a.example, https://b.example:8443',
    '--max-members', '4', '--max-payload', '1024', '--max-buffered-bytes', '262144', '--heartbeat-interval', '0',
    '--rate-limit', '50', '--rate-limit-window', '2000', '--log-level', 'debug',
    '--stun', 'stun:s1.example:3478,stun:s2.example', '--stun', 'stun:s3.example', '--turn-url', 'turn:t.example:3478?transport=udp',
    '--turn-url', 'turns:t.example:5349', '--turn-secret', 'new, old', '--turn-ttl', '600', '--metrics',
    '--resume-grace', '30000', '--drain-window', '500', '--drain-deadline', '20000'
  ]), {
    listen: { port: 1234, host: '127.0.0.1' },
    pluginOptions: {
      prefix: '/signal',
      privatePools: false,
      demo: true,
      allowedOrigins: ['https://a.example', 'https://b.example:8443'],
      maxMembers: 4,
      maxPayload: 1024,
      maxBufferedBytes: 262144,
      heartbeatInterval: 0,
      rateLimit: { max: 50, timeWindow: 2000 },
      resume: { graceMs: 30000 },
      drain: { windowMs: 500, deadlineMs: 20000 }
    },
    redis: 'redis://10.0.0.5:6379',
    pools: ['a', 'b'],
    logLevel: 'debug',
    ice: {
      stun: ['stun:s1.example:3478', 'stun:s2.example', 'stun:s3.example'],
      turnUrls: ['turn:t.example:3478?transport=udp', 'turns:t.example:5349'],
      turnSecrets: ['new', 'old'],
      turnSecretFile: null,
      turnTtl: 600
    },
    metrics: true
  })
  t.same(serve(['-p', '1', '--port=2']).listen.port, 2, 'short form and --flag=value; the last one wins')
  t.same(serve(['--allowed-origins', '*']).pluginOptions.allowedOrigins, '*')
  t.same(serve(['--rate-limit-window', '10']).pluginOptions.rateLimit, { timeWindow: 10 }, 'the window alone keeps the default limit')
})

/** A valid value for each flag; the test below fails when a new flag has none, so each gets checked. */
const SAMPLES: Record<string, string> = {
  port: '8080',
  host: '::1',
  prefix: '/x',
  public: '1',
  pool: 'lobby',
  demo: 'true',
  redis: 'rediss://cache.example:6380',
  'allowed-origins': 'https://app.example',
  'max-members': '8',
  'max-payload': '2048',
  'max-buffered-bytes': '262144',
  'heartbeat-interval': '5000',
  'rate-limit': '20',
  'rate-limit-window': '500',
  'log-level': 'warn',
  stun: 'stun:stun.example:3478',
  'turn-url': 'turn:turn.example:3478',
  'turn-secret': 's3cret',
  'turn-secret-file': '/run/secrets/turn',
  'turn-ttl': '120',
  metrics: 'on',
  'resume-grace': '5000',
  'drain-window': '0',
  'drain-deadline': '3000'
}

/** Flags that are only valid with another: the TURN URL and its secret. */
const COMPANIONS: Record<string, string[]> = {
  'turn-url': ['--turn-secret', 'x'],
  'turn-secret': ['--turn-url', 'turn:t.example'],
  'turn-secret-file': ['--turn-url', 'turn:t.example']
}

test('every flag has an RTC_* variable that gives the same config', async (t) => {
  for (const spec of FLAGS) {
    const sample = SAMPLES[spec.name]
    t.ok(sample !== undefined, `a sample value for --${spec.name}`)
    if (sample === undefined) continue
    const argv = spec.arg === undefined ? [`--${spec.name}`] : [`--${spec.name}`, sample]
    const companion = COMPANIONS[spec.name] ?? []
    t.same(serve(companion, { [envName(spec.name)]: sample }), serve([...argv, ...companion]), `${envName(spec.name)} mirrors --${spec.name}`)
  }
})

test('variables: RTC_* first, then the conventional fallbacks; flags win over both', async (t) => {
  t.equal(serve([], { PORT: '3000' }).listen.port, 3000, 'PORT, as PaaS hosts set it')
  t.equal(serve([], { PORT: '3000', RTC_PORT: '4000' }).listen.port, 4000, 'RTC_PORT before PORT')
  t.equal(serve(['--port', '5000'], { PORT: '3000', RTC_PORT: '4000' }).listen.port, 5000, 'the flag before both')
  t.equal(serve([], { HOST: '127.0.0.1' }).listen.host, '127.0.0.1', 'HOST, as npm start reads it')
  t.equal(serve([], { LOG_LEVEL: 'error' }).logLevel, 'error')
  t.equal(serve([], { REDIS_URL: 'redis://r:6379' }).redis, 'redis://r:6379')
  t.same(serve([], { RTC_POOL: 'a, b,,c' }).pools, ['a', 'b', 'c'], 'RTC_POOL is a comma list')
  t.same(serve([], { STUN_URL: 'stun:a.example, stun:b.example', TURN_URL: 'turn:t.example', TURN_SECRET: 's', TURN_TTL: '90' }).ice, {
    stun: ['stun:a.example', 'stun:b.example'], turnUrls: ['turn:t.example'], turnSecrets: ['s'], turnSecretFile: null, turnTtl: 90
  }, 'the variables npm start already read: STUN_URL, TURN_URL, TURN_SECRET, TURN_TTL')
  t.same(serve([], { TURN_URL: 'turn:t.example', TURN_SECRET_FILE: '/s' }).ice.turnSecretFile, '/s')
  t.same(serve(['--pool', 'x'], { RTC_POOL: 'a' }).pools, ['x'])
  t.equal(serve([], { RTC_PUBLIC: 'yes' }).pluginOptions.privatePools, false)
  t.equal(serve([], { RTC_PUBLIC: '0' }).pluginOptions.privatePools, true)
  t.equal(serve(['--public'], { RTC_PUBLIC: 'off' }).pluginOptions.privatePools, false, 'a switch on the command line beats the variable')
  t.equal(serve([], { RTC_RATE_LIMIT: 'off' }).pluginOptions.rateLimit, false)
  t.equal(serve(['--no-rate-limit']).pluginOptions.rateLimit, false)
  t.equal(serve(['--resume-grace', 'off']).pluginOptions.resume, false, '--resume-grace off: every drop is a leave')
  t.same(serve(['--drain-deadline', '30000']).pluginOptions.drain, { deadlineMs: 30000 }, 'one drain field; the plugin fills in the other')
  t.same(serve(['--rate-limit', '10'], { RTC_RATE_LIMIT: 'off' }).pluginOptions.rateLimit, { max: 10 })
  t.equal(serve(['--rate-limit', 'off', '--rate-limit-window', '10']).pluginOptions.rateLimit, false, 'a window without a limit is moot')
})

test('limits that fit only together: each flag is checked alone, the plugin checks the set', async (t) => {
  // 8 KiB of queue holds the largest rtc:joined of a pool of 1 (1 × (4,096 + 100) + 200 bytes) but not of the default
  // pool of 32: the flag must not be refused for what another flag changes
  const config = serve(['--max-buffered-bytes', '8192', '--max-members', '1'])
  t.match(config.pluginOptions, { maxBufferedBytes: 8192, maxMembers: 1 })
  t.throws(() => serve(['--max-buffered-bytes', '100']), /^--max-buffered-bytes: expected an integer >= 1024/, 'a value the plugin refuses on its own still is')
})

test('bad input: a UsageError naming the flag or variable', async (t) => {
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['--port', 'abc'], {}, /^--port: expected an integer from 0 to 65535, got "abc"$/],
    [['--port', '70000'], {}, /^--port: /],
    [['--port', '-1'], {}, /--port/],
    [[], { RTC_PORT: '12x' }, /^RTC_PORT: /],
    [[], { PORT: 'x' }, /^PORT: /],
    [['--max-payload', '100'], {}, /^--max-payload: expected an integer >= 256, got "100"$/],
    [['--max-members', '0'], {}, /^--max-members: expected an integer >= 1/],
    [['--max-members', '1.5'], {}, /^--max-members: /],
    [['--prefix', 'rtc'], {}, /^--prefix: expected a path like "\/rtc"/],
    [['--allowed-origins', 'https://a.example/'], {}, /did you mean https:\/\/a\.example\?/],
    [['--allowed-origins', 'nope'], {}, /^--allowed-origins: "nope" is not an origin/],
    [['--allowed-origins', ','], {}, /^--allowed-origins: expected \*/],
    [['--redis', 'http://r:6379'], {}, /^--redis: expected a redis:\/\/ or rediss:\/\/ URL/],
    [['--log-level', 'loud'], {}, /^--log-level: expected one of fatal, /],
    [['--rate-limit', '0'], {}, /^--rate-limit: /],
    [['--rate-limit', '5', '--no-rate-limit'], {}, /^--no-rate-limit: conflicts with --rate-limit$/],
    [['--stun', 'http://s.example'], {}, /^--stun: /],
    [['--turn-url', 'stun:t.example', '--turn-secret', 's'], {}, /^--turn-url: .*turn: or turns: URLs only/],
    [['--turn-url', 'turn:t.example'], {}, /^--turn-url: needs --turn-secret or --turn-secret-file/],
    [[], { TURN_URL: 'turn:t.example' }, /^--turn-url: needs --turn-secret/],
    [['--turn-secret', 's'], {}, /^--turn-secret: needs --turn-url/],
    [['--turn-url', 'turn:t.example', '--turn-secret', 's', '--turn-secret-file', '/f'], {}, /^--turn-secret: give the secret once/],
    [['--turn-secret', ' , '], {}, /^--turn-secret: expected a non-empty secret$/],
    [['--turn-ttl', '59'], {}, /^--turn-ttl: expected an integer from 60 to /],
    [[], { TURN_TTL: 'soon' }, /^TURN_TTL: /],
    [[], { RTC_METRICS: 'maybe' }, /^RTC_METRICS: expected 1\/0/],
    [['--resume-grace', '0'], {}, /^--resume-grace: expected an integer from 1 to /],
    [['--resume-grace', 'soon'], {}, /^--resume-grace: /],
    [['--drain-deadline', '0'], {}, /^--drain-deadline: expected an integer from 1 to /],
    [[], { RTC_DRAIN_WINDOW: '-5' }, /^RTC_DRAIN_WINDOW: /],
    [[], { RTC_PUBLIC: 'maybe' }, /^RTC_PUBLIC: expected 1\/0/],
    [['--bogus'], {}, /^unknown option --bogus$/],
    [['--port'], {}, /^--port needs a value$/],
    [['--public=1'], {}, /^--public takes no value$/],
    [['extra'], {}, /^unexpected argument extra$/],
    [['conformance'], {}, /needs the server's WebSocket URL/],
    [['conformance', 'http://x'], {}, /expected a ws:\/\/ or wss:\/\/ URL/],
    [['conformance', 'ws://x', 'ws://y'], {}, /unexpected argument ws:\/\/y/],
    [['conformance', 'ws://x', '--timeout', '0'], {}, /^--timeout: /]
  ]
  for (const [argv, env, message] of cases) {
    t.throws(() => parseCommand(argv, env), { name: 'UsageError', message }, `${argv.join(' ')} ${JSON.stringify(env)}`)
  }
  t.ok(new UsageError('x') instanceof Error)
})

test('the ICE flags become the iceServers option; a secret file is read at start', async (t) => {
  t.equal(iceServersOption(serve([]).ice), undefined, 'no flag: no ICE servers')
  t.same(iceServersOption(serve(['--stun', 'stun:s.example', '--turn-url', 'turn:t.example', '--turn-secret', 'a,b', '--turn-ttl', '300']).ice), [
    { urls: ['stun:s.example'] },
    { urls: ['turn:t.example'], secret: ['a', 'b'], ttl: 300 }
  ], 'several secrets: the first signs, the others stay valid')
  const dir = mkdtempSync(path.join(tmpdir(), 'rtc-cli-'))
  const file = path.join(dir, 'turn-secret')
  writeFileSync(file, 'one\n\n  two  \r\n')
  t.same(iceServersOption(serve(['--turn-url', 'turn:t.example', '--turn-secret-file', file]).ice), [
    { urls: ['turn:t.example'], secret: ['one', 'two'], ttl: DEFAULT_TURN_TTL }
  ], 'one secret per line')
  writeFileSync(file, '\n')
  t.throws(() => iceServersOption(serve(['--turn-url', 'turn:t.example', '--turn-secret-file', file]).ice), { name: 'UsageError', message: /holds no secret/ })
  t.throws(() => iceServersOption(serve(['--turn-url', 'turn:t.example', '--turn-secret-file', path.join(dir, 'missing')]).ice),
    { name: 'UsageError', message: /^--turn-secret-file: cannot read .*ENOENT/ })
  t.same(iceConfigFromEnv({ STUN_URL: 'stun:s.example', PORT: 'not read', RTC_PORT: 'x' }).stun, ['stun:s.example'], 'the ICE variables alone, as the demo reads them')
  t.throws(() => iceConfigFromEnv({ TURN_URL: 'turn:t.example' }), /needs --turn-secret/)
})

test('help, version and the conformance command', async (t) => {
  t.same(parseCommand(['--help']), { command: 'help', topic: 'serve' })
  t.same(parseCommand(['--port', 'abc', '-h']), { command: 'help', topic: 'serve' }, 'help wins over a bad value')
  t.same(parseCommand(['-v']), { command: 'version' })
  t.same(parseCommand(['conformance', '--help']), { command: 'help', topic: 'conformance' })
  t.same(parseCommand(['conformance', 'wss://sig.example/rtc', '--timeout', '900', '--json', '--flood', '--pool-prefix', 'ci-']), {
    command: 'conformance',
    config: { url: 'wss://sig.example/rtc', poolPrefix: 'ci-', timeout: 900, json: true, flood: true }
  } satisfies Command)
  const help = usage('serve', '1.2.3')
  t.match(help, /version 1\.2\.3/)
  for (const spec of FLAGS) {
    t.match(help, `--${spec.name}`, `--help lists --${spec.name}`)
    t.match(help, envName(spec.name), `--help lists ${envName(spec.name)}`)
  }
  for (const line of help.split('\n')) t.ok(line.length <= 80, `fits 80 columns: ${line}`)
  t.match(usage('conformance', '1.2.3'), `${COMMAND} conformance <ws-url>`)
})

// ---------------------------------------------------------------------------------------------
// The real command

/** The rows of the printed table: check name → PASS, FAIL or SKIP. */
function rows (table: string): Record<string, string> {
  return Object.fromEntries([...table.matchAll(/^ {2}(PASS|FAIL|SKIP) +(\S+) /gm)].map((m) => [m[2], m[1]]))
}

test('the CLI server passes every conformance check, and SIGTERM drains (1012, 1001) and exits 0', async (t) => {
  const { child, url, exited, log } = await start(t, ['--public', '--port', '0', '--host', '127.0.0.1'])
  t.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/rtc$/)
  t.ok(await log((l) => /Server listening/.test(l.msg)), 'logs are JSON lines on stdout')

  const result = await run(['conformance', url, '--flood'])
  t.equal(result.code, 0, `exit code 0 (stderr: ${result.stderr})`)
  const expected = Object.fromEntries(CHECKS.map((c) => [c.name, c.name === 'empty-pool-removed' ? 'SKIP' : 'PASS']))
  t.same(rows(result.stdout), expected, `every check passes (the flood one too: the default limit is hit)\n${result.stdout}`)
  t.match(result.stdout, `${CHECKS.length} checks: ${CHECKS.length - 1} passed, 0 failed, 1 skipped`)

  const member = await Client.open(url)
  await member.join('lobby')
  const idle = await Client.open(url)
  const resumable = await Client.open(url)
  resumable.send('rtc:join', { pool: 'lobby', resume: true })
  await resumable.expect('rtc:joined')
  child.kill('SIGTERM')
  t.equal((await resumable.closed).code, 1012, 'a member that can resume gets 1012 (service restart): the drain')
  t.equal((await member.closed).code, 1001, 'a member gets 1001 (going away)')
  t.equal((await idle.closed).code, 1001, 'so does a socket that never joined')
  t.same(await exited, [0, null], 'the process exits 0')
})

test('a private server creates its --pool pools; a taken port fails with exit code 1', async (t) => {
  const { url } = await start(t, ['--pool', 'lobby', '--port', '0', '--host', '127.0.0.1'])
  const c = await Client.open(url)
  t.equal((await c.join('lobby')).pool, 'lobby')
  const other = await Client.open(url)
  other.send('rtc:join', { pool: 'other' })
  t.equal((await other.expect('rtc:error')).reason, 'no-such-pool', 'only --pool pools exist')
  c.close()
  other.close()

  const taken = await run(['--port', new URL(url).port, '--host', '127.0.0.1', '--log-level', 'silent'])
  t.equal(taken.code, 1)
  t.match(taken.stderr, /^fastify-rtc-signal: cannot start: .*EADDRINUSE/)
})

test('a private server without pools warns that every join will be refused; SIGINT closes it', async (t) => {
  const { child, exited, log } = await start(t, ['--port', '0', '--host', '127.0.0.1'])
  const warning = await log((l) => l.level === 40)
  t.match(warning.msg, /every join is refused \(no-such-pool\).*--public or --pool/)
  child.kill('SIGINT')
  t.same(await exited, [0, null], 'exit code 0')
})

test('--turn-* hand each member its own TURN credential; --metrics serves /metrics; no secret in the logs', async (t) => {
  const secret = 'cli-test-secret-8d1f'
  const dir = mkdtempSync(path.join(tmpdir(), 'rtc-cli-'))
  const file = path.join(dir, 'turn-secret')
  writeFileSync(file, `${secret}\n`)
  const { url, log, logs } = await start(t, [
    '--public', '--port', '0', '--host', '127.0.0.1', '--metrics',
    '--stun', 'stun:127.0.0.1:3478', '--turn-url', 'turn:127.0.0.1:3478', '--turn-secret-file', file, '--turn-ttl', '600'
  ])
  t.same((await log((l) => l.ice !== undefined)).ice, [{ urls: ['stun:127.0.0.1:3478'] }, { urls: ['turn:127.0.0.1:3478'], ttl: 600 }], 'the log names URLs and lifetimes')

  const member = await Client.open(url)
  const joined = await member.join('lobby')
  const [stun, turn] = joined.ice.servers
  t.same(stun, { urls: ['stun:127.0.0.1:3478'] })
  t.match(turn.username, new RegExp(`^\\d+:${joined.client_id as string}$`), 'username = expiry:peer id')
  t.equal(turn.credential, turnRestCredential(secret, turn.username), 'signed with the secret from the file')
  t.equal(joined.ice.expiresAt, Number(turn.username.split(':')[0]) * 1000)

  const response = await fetch(new URL('/metrics', url.replace(/^ws/, 'http')))
  t.equal(response.status, 200)
  t.match(response.headers.get('content-type'), /^text\/plain/)
  const text = await response.text()
  t.match(text, /^rtc_signal_members 1$/m, 'the plugin\'s gauges')
  t.match(text, /^rtc_signal_ice_credentials_issued_total 1$/m, 'one credential issued')
  t.match(text, /^process_cpu_user_seconds_total /m, 'and Node\'s process metrics')
  member.close()
  t.notOk(JSON.stringify(logs).includes(secret), 'the secret is in no log line')
})

test('bad flags: one line on stderr with a hint to --help, exit code 2', async (t) => {
  const bad = await run(['--port', 'abc'])
  t.equal(bad.code, 2)
  t.equal(bad.stdout, '')
  t.equal(bad.stderr, 'fastify-rtc-signal: --port: expected an integer from 0 to 65535, got "abc" (see fastify-rtc-signal --help)\n')
})
