import createError from '@fastify/error'

/**
 * Every coded error the plugin throws. Tests and callers match on `err.code`.
 * The HTTP status is what a route handler passing the error to Fastify would answer.
 */
export const errors = {
  /** An option passed to `register` has the wrong type or range. */
  FST_RTC_INVALID_OPTION: createError('FST_RTC_INVALID_OPTION', 'Invalid option "%s": %s', 500, TypeError),
  /** `createPool` for a name that already exists. */
  FST_RTC_POOL_EXISTS: createError('FST_RTC_POOL_EXISTS', 'Pool "%s" already exists', 409),
  /** A PoolManager call named a pool that does not exist. */
  FST_RTC_NO_SUCH_POOL: createError('FST_RTC_NO_SUCH_POOL', 'Pool "%s" does not exist', 404),
  /** A PoolManager call named a peer id that is not connected. */
  FST_RTC_NO_SUCH_PEER: createError('FST_RTC_NO_SUCH_PEER', 'Peer "%s" is not connected', 404),
  /** A pool name given to server code is empty, not a string or too long. */
  FST_RTC_INVALID_POOL_NAME: createError('FST_RTC_INVALID_POOL_NAME', 'Invalid pool name: %s', 400, TypeError),
  /** An application event type is empty, not a string or uses the reserved `rtc:` prefix. */
  FST_RTC_INVALID_EVENT: createError('FST_RTC_INVALID_EVENT', 'Invalid application event: %s', 400, TypeError),
  /** A description that cannot be sent as JSON (undefined, a function, a cycle, a bigint). */
  FST_RTC_INVALID_DESCRIPTION: createError('FST_RTC_INVALID_DESCRIPTION', 'Invalid description: %s', 400, TypeError),
  /** A description larger than `maxDescriptionBytes` (bytes of its JSON, UTF-8). */
  FST_RTC_DESCRIPTION_TOO_LARGE: createError('FST_RTC_DESCRIPTION_TOO_LARGE', 'Description too large: %s', 413, RangeError),
  /** A WebSocket upgrade from an Origin not in `allowedOrigins` (answered before the upgrade). */
  FST_RTC_ORIGIN_FORBIDDEN: createError('FST_RTC_ORIGIN_FORBIDDEN', 'Origin "%s" is not allowed', 403),
  /** The Redis adapter cannot reach Redis (a server call while reconnecting, or no Redis at startup). */
  FST_RTC_REDIS_UNAVAILABLE: createError('FST_RTC_REDIS_UNAVAILABLE', 'Redis is unreachable: %s', 503),
  /** `metrics` is set but the optional peer dependency prom-client is not installed. */
  FST_RTC_METRICS_UNAVAILABLE: createError('FST_RTC_METRICS_UNAVAILABLE', 'The metrics option needs prom-client (npm install prom-client): %s', 500),
  /** The registry already has a metric by one of the plugin's names (another instance, or another library, with the same prefix). */
  FST_RTC_METRICS_CONFLICT: createError('FST_RTC_METRICS_CONFLICT', 'The metrics registry already has a metric named "%s": give each instance its own registry or metrics.prefix', 500),
  /** The PoolManager was used after the Fastify instance closed. */
  FST_RTC_CLOSED: createError('FST_RTC_CLOSED', 'The signalling server is closed', 503),
  /** An upgrade while `maxConnections` sockets are open (answered before the upgrade). */
  FST_RTC_MAX_CONNECTIONS: createError('FST_RTC_MAX_CONNECTIONS',
    'The server has reached its maxConnections (%s): try again later', 503),
  /** An upgrade while `maxConnectionsPerIp` sockets from the same address are open (answered before the upgrade). */
  FST_RTC_MAX_CONNECTIONS_PER_IP: createError('FST_RTC_MAX_CONNECTIONS_PER_IP',
    'Too many connections from this address (maxConnectionsPerIp: %s)', 429),
  /** A plain HTTP GET (no `Upgrade: websocket`) on one of the plugin's WebSocket routes. */
  FST_RTC_UPGRADE_REQUIRED: createError('FST_RTC_UPGRADE_REQUIRED',
    'This is a WebSocket endpoint: connect with new WebSocket(url) (a GET with Upgrade: websocket)', 426),
  /** The app registered @fastify/websocket itself with a larger maxPayload than the plugin's. */
  FST_RTC_WEBSOCKET_MAX_PAYLOAD: createError('FST_RTC_WEBSOCKET_MAX_PAYLOAD',
    'The app registered @fastify/websocket with maxPayload %s, more than this plugin\'s maxPayload (%s): clients could ' +
    'send (and with permessage-deflate make the server inflate) frames that large. Register @fastify/websocket with ' +
    'options.maxPayload <= %s, or let this plugin register it', 500),
  /** An upgrade while the server drains its connections (fastify.close()): answered with `Retry-After`. */
  FST_RTC_DRAINING: createError('FST_RTC_DRAINING',
    'The server is restarting: connect again (and resume) in a few seconds', 503),
  /** The plugin registered twice in one context (or in a context and its descendant). */
  FST_RTC_ALREADY_REGISTERED: createError('FST_RTC_ALREADY_REGISTERED',
    'fastify-rtc-signal is already registered in this context or a parent of it: register each instance in its own ' +
    'encapsulated context, e.g. fastify.register(async (child) => { await child.register(rtcSignal, { prefix: \'/other\' }) })', 500)
} as const

export type RtcErrorCode = keyof typeof errors
