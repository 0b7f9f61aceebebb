/**
 * The command line as a pure function: argv + environment → what to run. No I/O, no Fastify
 * instance, so every flag, variable and error is unit-testable (test/cli.test.ts).
 *
 * Every server flag is one entry of FLAGS: its help line, its environment variable
 * (RTC_<NAME>, plus fallbacks such as PORT) and how its value lands in the config. Adding a
 * flag (--stun, --turn-url, --metrics...) is adding one entry.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import {
  DEFAULT_HEARTBEAT_INTERVAL,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_MEMBERS,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_PREFIX,
  DEFAULT_RATE_LIMIT_MAX,
  DEFAULT_RATE_LIMIT_WINDOW,
  DEFAULT_RESUME_GRACE_MS,
  DEFAULT_DRAIN_WINDOW_MS,
  DEFAULT_DRAIN_DEADLINE_MS,
  type RtcSignalOptions
} from '../index'
import { normalizeOptions } from '../options'
import { MAX_TURN_TTL, MIN_TURN_TTL } from '../ice'

export const COMMAND = 'fastify-rtc-signal'

/**
 * 9000, as `npx peerjs --port 9000`, the command PeerJS users already type; it is clear of the
 * demo's 7000 (`npm start`) and of the 3000/8080 of most development servers.
 */
export const DEFAULT_PORT = 9000
/**
 * Every interface, as PyRTC's test server (`0.0.0.0`), `npx peerjs` and `npm start` do: a
 * standalone server is meant to be reached from other machines (phones on the LAN, a container's
 * published port). `--host 127.0.0.1` keeps it local.
 */
export const DEFAULT_HOST = '0.0.0.0'
export const DEFAULT_LOG_LEVEL = 'info'
/** An hour: a call that starts near the end of it gets fresh credentials from rtc:ice anyway. */
export const DEFAULT_TURN_TTL = 3600
/** Where `--metrics` serves the Prometheus text format. */
export const METRICS_PATH = '/metrics'
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = typeof LOG_LEVELS[number]

/** Conformance: the longest one check may take, connecting included. */
export const DEFAULT_CONFORMANCE_TIMEOUT = 5000
export const DEFAULT_POOL_PREFIX = 'conformance-'

/** Bad input on the command line or in the environment: one line on stderr, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** `--stun`, `--turn-*`: turned into the plugin's iceServers option at start (a secret file is read then). */
export interface IceConfig {
  stun: string[]
  turnUrls: string[]
  /** Shared secrets (coturn's static-auth-secret); the first signs, the others stay valid (rotation). */
  turnSecrets: string[]
  /** A file holding the secrets, one per line: keeps them out of argv, which `ps` shows. */
  turnSecretFile: string | null
  turnTtl: number
}

export interface CliConfig {
  listen: { port: number, host: string }
  /** Options for the plugin, only those set (the plugin fills in its own defaults). */
  pluginOptions: RtcSignalOptions
  /** `--redis`: the adapter is made from it at start (it needs ioredis), so this stays pure. */
  redis: string | null
  /** `--pool`: pools created at start (on a private server, the only ones that can be joined). */
  pools: string[]
  logLevel: LogLevel
  ice: IceConfig
  /** `--metrics`: Prometheus metrics at METRICS_PATH on the same port (needs prom-client). */
  metrics: boolean
}

export interface ConformanceConfig {
  url: string
  poolPrefix: string
  timeout: number
  json: boolean
  flood: boolean
}

export type Command =
  | { command: 'help', topic: 'serve' | 'conformance' }
  | { command: 'version' }
  | { command: 'serve', config: CliConfig }
  | { command: 'conformance', config: ConformanceConfig }

type Value = string | boolean | string[]

export interface FlagSpec {
  /** Long name, without dashes. Its environment variable is RTC_<NAME> (dashes to underscores). */
  name: string
  short?: string
  /** Placeholder of the value in --help; a flag without one is a switch. */
  arg?: string
  /** May be repeated; the environment variable then holds a comma-separated list. */
  multiple?: boolean
  /** `--no-<name>` is accepted and means the value `off`. */
  negatable?: boolean
  /** Variables read when RTC_<NAME> is not set, in order (PORT, HOST...). */
  envFallbacks?: string[]
  /** The default, as shown in --help. */
  default?: string
  help: string
  /** Puts the value into the config; `source` names where it came from (`--port`, `RTC_PORT`) for errors. */
  apply: (value: Value, config: CliConfig, source: string) => void
}

function fail (source: string, why: string): never {
  throw new UsageError(`${source}: ${why}`)
}

function show (value: Value): string {
  return JSON.stringify(value)
}

function integer (value: Value, source: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const text = String(value).trim()
  const n = /^\d+$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    fail(source, `expected an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}, got ${show(value)}`)
  }
  return n
}

/** An option the plugin validates: its own rule (minimum, shape) decides, named after the flag (how options fit together is checked when the plugin registers). */
function checkedByPlugin (options: RtcSignalOptions, source: string, value: Value): void {
  try {
    normalizeOptions(options, { combined: false })
  } catch (err) {
    const why = (err as Error).message.replace(/^Invalid option "[^"]+": /, '').replace(/, got .*$/, '')
    fail(source, `${why}, got ${show(value)}`)
  }
}

/** A flag that sets one integer plugin option. */
function integerOption (key: 'maxMembers' | 'maxPayload' | 'maxBufferedBytes' | 'heartbeatInterval') {
  return (value: Value, config: CliConfig, source: string): void => {
    const n = integer(value, source, 0)
    checkedByPlugin({ [key]: n }, source, value)
    config.pluginOptions[key] = n
  }
}

/** A flag that sets one field of the drain option (the other keeps its value or default). */
function drainOption (key: 'windowMs' | 'deadlineMs') {
  return (value: Value, config: CliConfig, source: string): void => {
    const n = integer(value, source, 0)
    const drain = { ...config.pluginOptions.drain, [key]: n }
    checkedByPlugin({ drain }, source, value)
    config.pluginOptions.drain = drain
  }
}

function origins (value: Value, source: string): '*' | string[] {
  const text = String(value).trim()
  if (text === '*') return '*'
  const list = text.split(',').map((o) => o.trim()).filter((o) => o !== '')
  if (list.length === 0) fail(source, 'expected * or a comma-separated list of origins such as https://app.example')
  for (const origin of list) {
    let parsed: URL | null = null
    try { parsed = new URL(origin) } catch {}
    if (parsed === null || parsed.origin === 'null' || parsed.origin !== origin) {
      const hint = parsed !== null && parsed.origin !== 'null' ? ` (did you mean ${parsed.origin}?)` : ''
      fail(source, `${show(origin)} is not an origin: scheme://host[:port], no path or trailing slash${hint}`)
    }
  }
  return list
}

function urlList (value: Value): string[] {
  const list = Array.isArray(value) ? value : [String(value)]
  return list.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '')
}

function rateLimit (config: CliConfig): { max?: number, timeWindow?: number } {
  const current = config.pluginOptions.rateLimit
  if (current === false) return {}
  return current ?? {}
}

/** The server's flags, in --help order. */
export const FLAGS: readonly FlagSpec[] = [
  {
    name: 'port',
    short: 'p',
    arg: 'n',
    envFallbacks: ['PORT'],
    default: String(DEFAULT_PORT),
    help: 'port to listen on; 0 takes any free port',
    apply: (value, config, source) => { config.listen.port = integer(value, source, 0, 65535) }
  },
  {
    name: 'host',
    arg: 'address',
    envFallbacks: ['HOST'],
    default: DEFAULT_HOST,
    help: 'address to bind; 127.0.0.1 keeps the server local',
    apply: (value, config, source) => {
      const host = String(value).trim()
      if (host === '') fail(source, 'expected an address such as 0.0.0.0, ::, 127.0.0.1')
      config.listen.host = host
    }
  },
  {
    name: 'prefix',
    arg: 'path',
    default: DEFAULT_PREFIX,
    help: 'path of the signalling WebSocket (also <prefix>/<pool>)',
    apply: (value, config, source) => {
      checkedByPlugin({ prefix: String(value) }, source, value)
      config.pluginOptions.prefix = String(value)
    }
  },
  {
    name: 'public',
    help: 'create pools on first join (as python -m pyrtc.test); without it,\n        only the --pool pools can be joined',
    apply: (value, config) => { config.pluginOptions.privatePools = value !== true }
  },
  {
    name: 'pool',
    arg: 'name',
    multiple: true,
    help: 'create this pool at start; repeatable (RTC_POOL: a comma list)',
    apply: (value, config, source) => {
      for (const name of value as string[]) {
        if (name === '') fail(source, 'expected a non-empty pool name')
        if (!config.pools.includes(name)) config.pools.push(name)
      }
    }
  },
  {
    name: 'demo',
    help: 'serve the demo video-call page at / and /<pool>',
    apply: (value, config) => { config.pluginOptions.demo = value === true }
  },
  {
    name: 'redis',
    arg: 'url',
    envFallbacks: ['REDIS_URL'],
    help: 'share pools with other processes through Redis (needs ioredis)',
    apply: (value, config, source) => {
      const url = String(value).trim()
      let protocol = ''
      try { protocol = new URL(url).protocol } catch {}
      if (protocol !== 'redis:' && protocol !== 'rediss:') fail(source, `expected a redis:// or rediss:// URL, got ${show(value)}`)
      config.redis = url
    }
  },
  {
    name: 'allowed-origins',
    arg: 'list',
    default: '*',
    help: 'origins whose pages may connect: * or a comma list such as\n        https://app.example,https://admin.example',
    apply: (value, config, source) => { config.pluginOptions.allowedOrigins = origins(value, source) }
  },
  {
    name: 'max-members',
    arg: 'n',
    default: String(DEFAULT_MAX_MEMBERS),
    help: 'members per pool',
    apply: integerOption('maxMembers')
  },
  {
    name: 'max-payload',
    arg: 'bytes',
    default: String(DEFAULT_MAX_PAYLOAD),
    help: 'largest incoming frame; a larger one closes the socket with 1009',
    apply: integerOption('maxPayload')
  },
  {
    name: 'max-buffered-bytes',
    arg: 'bytes',
    default: String(DEFAULT_MAX_BUFFERED_BYTES),
    help: 'bytes queued for a socket; a relay beyond it gets peer-busy',
    apply: integerOption('maxBufferedBytes')
  },
  {
    name: 'heartbeat-interval',
    arg: 'ms',
    default: String(DEFAULT_HEARTBEAT_INTERVAL),
    help: 'milliseconds between pings; 0 disables the heartbeat',
    apply: integerOption('heartbeatInterval')
  },
  {
    name: 'rate-limit',
    arg: 'n|off',
    negatable: true,
    default: String(DEFAULT_RATE_LIMIT_MAX),
    help: 'frames a connection may send per window; off (or --no-rate-limit)\n        disables the limit',
    apply: (value, config, source) => {
      if (String(value).trim() === 'off') {
        config.pluginOptions.rateLimit = false
        return
      }
      config.pluginOptions.rateLimit = { ...rateLimit(config), max: integer(value, source, 1) }
    }
  },
  {
    name: 'rate-limit-window',
    arg: 'ms',
    default: String(DEFAULT_RATE_LIMIT_WINDOW),
    help: 'the rate limit\'s window in milliseconds',
    apply: (value, config, source) => {
      const timeWindow = integer(value, source, 1)
      if (config.pluginOptions.rateLimit !== false) config.pluginOptions.rateLimit = { ...rateLimit(config), timeWindow }
    }
  },
  {
    name: 'resume-grace',
    arg: 'ms|off',
    default: String(DEFAULT_RESUME_GRACE_MS),
    help: 'how long a member whose socket dropped may resume (same id, missed\n        frames replayed); off: every drop is a leave',
    apply: (value, config, source) => {
      if (String(value).trim() === 'off') {
        config.pluginOptions.resume = false
        return
      }
      const graceMs = integer(value, source, 0)
      checkedByPlugin({ resume: { graceMs } }, source, value)
      config.pluginOptions.resume = { graceMs }
    }
  },
  {
    name: 'drain-window',
    arg: 'ms',
    default: String(DEFAULT_DRAIN_WINDOW_MS),
    help: 'on SIGTERM, socket closes (1012) are spread over this time',
    apply: drainOption('windowMs')
  },
  {
    name: 'drain-deadline',
    arg: 'ms',
    default: String(DEFAULT_DRAIN_DEADLINE_MS),
    help: 'on SIGTERM, the process exits by then whatever is left; give\n        your process manager a longer grace period',
    apply: drainOption('deadlineMs')
  },
  {
    name: 'stun',
    arg: 'url',
    multiple: true,
    envFallbacks: ['STUN_URL'],
    help: 'a STUN server for the members, e.g. stun:stun.example.org:3478;\n        repeatable or a comma list',
    apply: (value, config, source) => {
      const urls = urlList(value)
      checkedByPlugin({ iceServers: [{ urls }] }, source, value)
      config.ice.stun.push(...urls)
    }
  },
  {
    name: 'turn-url',
    arg: 'url',
    multiple: true,
    envFallbacks: ['TURN_URL'],
    help: 'a TURN server sharing --turn-secret (coturn use-auth-secret): each\n        member gets its own short-lived credential; repeatable or a comma list',
    apply: (value, config, source) => {
      const urls = urlList(value)
      checkedByPlugin({ iceServers: [{ urls, secret: 'x', ttl: DEFAULT_TURN_TTL }] }, source, value)
      config.ice.turnUrls.push(...urls)
    }
  },
  {
    name: 'turn-secret',
    arg: 'secret',
    envFallbacks: ['TURN_SECRET'],
    help: 'coturn\'s static-auth-secret; a comma list while rotating (the first\n        signs). Prefer the variable or --turn-secret-file: ps shows argv',
    apply: (value, config, source) => {
      const secrets = String(value).split(',').map((v) => v.trim()).filter((v) => v !== '')
      if (secrets.length === 0) fail(source, 'expected a non-empty secret')
      config.ice.turnSecrets = secrets
    }
  },
  {
    name: 'turn-secret-file',
    arg: 'path',
    envFallbacks: ['TURN_SECRET_FILE'],
    help: 'a file holding the TURN secrets, one per line (the first signs)',
    apply: (value, config, source) => {
      const path = String(value).trim()
      if (path === '') fail(source, 'expected the path of a file')
      config.ice.turnSecretFile = path
    }
  },
  {
    name: 'turn-ttl',
    arg: 's',
    envFallbacks: ['TURN_TTL'],
    default: String(DEFAULT_TURN_TTL),
    help: 'lifetime of a TURN credential in seconds; renewed before it ends',
    apply: (value, config, source) => { config.ice.turnTtl = integer(value, source, MIN_TURN_TTL, MAX_TURN_TTL) }
  },
  {
    name: 'metrics',
    help: `Prometheus metrics at ${METRICS_PATH} on the same port (needs prom-client);\n        keep that path internal at your proxy`,
    apply: (value, config) => { config.metrics = value === true }
  },
  {
    name: 'log-level',
    arg: 'level',
    envFallbacks: ['LOG_LEVEL'],
    default: DEFAULT_LOG_LEVEL,
    help: `${LOG_LEVELS.join(', ')}; logs are JSON lines\n        on stdout`,
    apply: (value, config, source) => {
      const level = String(value).trim()
      if (!(LOG_LEVELS as readonly string[]).includes(level)) fail(source, `expected one of ${LOG_LEVELS.join(', ')}, got ${show(value)}`)
      config.logLevel = level as LogLevel
    }
  }
]

/** The environment variable that mirrors a flag: `max-members` → RTC_MAX_MEMBERS. */
export function envName (flag: string): string {
  return `RTC_${flag.replace(/-/g, '_').toUpperCase()}`
}

const TRUE = new Set(['1', 'true', 'yes', 'on'])
const FALSE = new Set(['0', 'false', 'no', 'off', ''])

/** A value from the environment, typed like the flag's own, or undefined when unset. */
function fromEnv (spec: FlagSpec, env: NodeJS.ProcessEnv): { value: Value, source: string } | undefined {
  for (const name of [envName(spec.name), ...(spec.envFallbacks ?? [])]) {
    const raw = env[name]
    if (raw === undefined) continue
    if (spec.arg === undefined) {
      const text = raw.trim().toLowerCase()
      if (TRUE.has(text)) return { value: true, source: name }
      if (FALSE.has(text)) return { value: false, source: name }
      fail(name, `expected 1/0, true/false, yes/no or on/off, got ${show(raw)}`)
    }
    if (spec.multiple === true) return { value: raw.split(',').map((s) => s.trim()).filter((s) => s !== ''), source: name }
    return { value: raw, source: name }
  }
  return undefined
}

function parseError (err: unknown): never {
  const e = err as Error & { code?: string }
  // "Option '-p, --port <value>' argument missing": the long name is the one to show.
  const option = /'(?:-\w, )?(--?[^' ]+)/.exec(e.message)?.[1]
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': throw new UsageError(`unknown option ${option ?? ''}`.trim())
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': throw new UsageError(`unexpected argument ${/'([^']*)'/.exec(e.message)?.[1] ?? ''}`.trim())
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(e.message)) throw new UsageError(`${option ?? 'that option'} takes no value`)
      throw new UsageError(`${option ?? 'an option'} needs a value`)
    default: throw new UsageError(e.message)
  }
}

type Options = NonNullable<ParseArgsConfig['options']>

const COMMON_OPTIONS: Options = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' }
}

function parse (args: string[], options: Options, allowPositionals: boolean): ReturnType<typeof parseArgs> {
  try {
    return parseArgs({ args, options: { ...COMMON_OPTIONS, ...options }, strict: true, allowPositionals })
  } catch (err) {
    parseError(err)
  }
}

function serveOptions (): Options {
  const options: Options = {}
  for (const spec of FLAGS) {
    options[spec.name] = {
      type: spec.arg === undefined ? 'boolean' : 'string',
      ...(spec.short === undefined ? {} : { short: spec.short }),
      ...(spec.multiple === true ? { multiple: true } : {})
    }
    if (spec.negatable === true) options[`no-${spec.name}`] = { type: 'boolean' }
  }
  return options
}

function parseServe (args: string[], env: NodeJS.ProcessEnv): Command {
  const { values } = parse(args, serveOptions(), false)
  if (values.help === true) return { command: 'help', topic: 'serve' }
  if (values.version === true) return { command: 'version' }
  const config = emptyConfig()
  // Table order, so a flag that builds on another (the rate limit's window) sees it set.
  for (const spec of FLAGS) {
    const flag = values[spec.name] as Value | undefined
    const negated = spec.negatable === true && values[`no-${spec.name}`] === true
    if (negated && flag !== undefined) fail(`--no-${spec.name}`, `conflicts with --${spec.name}`)
    if (negated) spec.apply('off', config, `--no-${spec.name}`)
    else if (flag !== undefined) spec.apply(flag, config, `--${spec.name}`)
    else {
      const fromEnvironment = fromEnv(spec, env)
      if (fromEnvironment !== undefined) spec.apply(fromEnvironment.value, config, fromEnvironment.source)
    }
  }
  checkTurn(config.ice)
  return { command: 'serve', config }
}

function emptyConfig (): CliConfig {
  return {
    listen: { port: DEFAULT_PORT, host: DEFAULT_HOST },
    pluginOptions: {},
    redis: null,
    pools: [],
    logLevel: DEFAULT_LOG_LEVEL,
    ice: { stun: [], turnUrls: [], turnSecrets: [], turnSecretFile: null, turnTtl: DEFAULT_TURN_TTL },
    metrics: false
  }
}

/** A TURN URL needs a secret and a secret needs a URL: either alone is a mistake, not a choice. */
function checkTurn (ice: IceConfig): void {
  const hasSecret = ice.turnSecrets.length > 0 || ice.turnSecretFile !== null
  if (ice.turnSecrets.length > 0 && ice.turnSecretFile !== null) fail('--turn-secret', 'give the secret once: --turn-secret or --turn-secret-file, not both')
  if (ice.turnUrls.length > 0 && !hasSecret) fail('--turn-url', 'needs --turn-secret or --turn-secret-file (coturn\'s static-auth-secret)')
  if (ice.turnUrls.length === 0 && hasSecret) fail('--turn-secret', 'needs --turn-url (the TURN server that shares it)')
}

const ICE_FLAGS = new Set(['stun', 'turn-url', 'turn-secret', 'turn-secret-file', 'turn-ttl'])

/**
 * The ICE flags' variables alone (STUN_URL, TURN_URL, TURN_SECRET, TURN_SECRET_FILE, TURN_TTL and
 * their RTC_* names), checked as the CLI checks them: for servers that take the rest of their
 * configuration elsewhere, as the demo (`npm start`) does.
 */
export function iceConfigFromEnv (env: NodeJS.ProcessEnv): IceConfig {
  const config = emptyConfig()
  for (const spec of FLAGS) {
    if (!ICE_FLAGS.has(spec.name)) continue
    const fromEnvironment = fromEnv(spec, env)
    if (fromEnvironment !== undefined) spec.apply(fromEnvironment.value, config, fromEnvironment.source)
  }
  checkTurn(config.ice)
  return config.ice
}

function parseConformance (args: string[]): Command {
  const { values, positionals } = parse(args, {
    'pool-prefix': { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
    flood: { type: 'boolean' }
  }, true)
  if (values.help === true) return { command: 'help', topic: 'conformance' }
  if (values.version === true) return { command: 'version' }
  if (positionals.length === 0) throw new UsageError('conformance needs the server\'s WebSocket URL, e.g. ws://127.0.0.1:9000/rtc')
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${positionals[1]}`)
  const url = positionals[0]
  let protocol = ''
  try { protocol = new URL(url).protocol } catch {}
  if (protocol !== 'ws:' && protocol !== 'wss:') fail('conformance', `expected a ws:// or wss:// URL, got ${show(url)}`)
  const poolPrefix = (values['pool-prefix'] as string | undefined) ?? DEFAULT_POOL_PREFIX
  return {
    command: 'conformance',
    config: {
      url,
      poolPrefix,
      timeout: values.timeout === undefined ? DEFAULT_CONFORMANCE_TIMEOUT : integer(values.timeout as string, '--timeout', 1),
      json: values.json === true,
      flood: values.flood === true
    }
  }
}

/** argv (without node and the script) + environment → the command to run. Throws UsageError. */
export function parseCommand (argv: readonly string[], env: NodeJS.ProcessEnv = {}): Command {
  const args = [...argv]
  if (args[0] === 'conformance') return parseConformance(args.slice(1))
  return parseServe(args, env)
}

function column (rows: Array<[string, string]>): string {
  const width = Math.max(...rows.map(([left]) => left.length)) + 2
  return rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`).join('\n')
}

/** A flag's entry in --help: names and help on one line, default and variables on the next. */
function flagHelp (spec: FlagSpec): string {
  const names = `${spec.short === undefined ? '    ' : `-${spec.short}, `}--${spec.name}${spec.arg === undefined ? '' : ` <${spec.arg}>`}`
  const env = [envName(spec.name), ...(spec.envFallbacks ?? [])].join(', ')
  const def = spec.default === undefined ? '' : `default ${spec.default}; `
  return `  ${names}\n        ${spec.help}\n        ${def}env ${env}`
}

/** The --help text, built from FLAGS. */
export function usage (topic: 'serve' | 'conformance', version: string): string {
  if (topic === 'conformance') {
    return `Usage: ${COMMAND} conformance <ws-url> [options]

Runs the ssp-v2 protocol checks against any signalling server and prints a
pass/fail table. Exit code 0 when every check passes, 1 when one fails.
The server must create pools on first join (${COMMAND} --public).

${column([
  ['--pool-prefix <text>', `prefix of the random pool names (default ${DEFAULT_POOL_PREFIX})`],
  ['--timeout <ms>', `longest time one check may take (default ${DEFAULT_CONFORMANCE_TIMEOUT})`],
  ['--json', 'print the results as JSON'],
  ['--flood', 'also send a burst of frames and expect rate-limited'],
  ['-h, --help', 'this help']
])}

Example: ${COMMAND} conformance ws://127.0.0.1:9000/rtc
`
  }
  return `Usage: ${COMMAND} [options]
       ${COMMAND} conformance <ws-url> [options]

A standalone WebRTC signalling server (ssp-v2, the protocol of PyRTC and
rtcpool), version ${version}. Browsers connect to ws://<host>:<port>/rtc.
Every flag has an environment variable, read when the flag is absent.

Options:
${FLAGS.map(flagHelp).join('\n')}
  -h, --help
        this help
  -v, --version
        the version

Examples:
  ${COMMAND} --public                     # pools made on first join
  ${COMMAND} --pool lobby --pool help     # only these two pools
  ${COMMAND} --public --demo --port 8080  # and the demo page
  RTC_REDIS=redis://10.0.0.5:6379 ${COMMAND} --public  # a cluster
  ${COMMAND} conformance ws://127.0.0.1:9000/rtc  # test a server
`
}
