import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fastifyStatic from '@fastify/static'
import type {} from '@fastify/websocket'

/** Where the demo's static files (script, stylesheet) are served, at the root of the app. */
export const DEMO_ASSETS_PREFIX = '/_rtc-demo'
/** The browser bundles, in these directories of dist/ (assets.js sits in dist/fastify/). */
const CLIENT_DIR = 'client'
const DEMO_DIR = 'demo'
const CLIENT_CACHE_CONTROL = 'public, max-age=3600, must-revalidate'
const PAGE_CACHE_CONTROL = 'no-cache'

const CLIENT_FILES: ReadonlyArray<[file: string, type: string]> = [
  ['client.js', 'text/javascript; charset=utf-8'],
  ['client.mjs', 'text/javascript; charset=utf-8'],
  ['client.js.map', 'application/json; charset=utf-8'],
  ['client.mjs.map', 'application/json; charset=utf-8']
]

interface Asset {
  body: Buffer
  etag: string
  type: string
}

/**
 * The built directory holding `name` (dist/client or dist/demo). Compiled, this file is
 * dist/fastify/assets.js and the bundles are in its parent; run from source (tsx), look in ../../dist.
 */
function builtDir (name: string, marker: string): string {
  const candidates = [join(__dirname, '..', name), join(__dirname, '..', '..', 'dist', name)]
  for (const dir of candidates) {
    if (existsSync(join(dir, marker))) return dir
  }
  throw new Error(`fastify-rtc-signal: ${name}/${marker} not found in ${candidates.join(' or ')}; run \`npm run build\``)
}

function asset (body: Buffer, type: string): Asset {
  const etag = '"' + createHash('sha256').update(body).digest('base64url').slice(0, 27) + '"'
  return { body, etag, type }
}

function send (request: FastifyRequest, reply: FastifyReply, file: Asset, cacheControl: string): FastifyReply {
  reply.header('etag', file.etag).header('cache-control', cacheControl).header('x-content-type-options', 'nosniff')
  const match = request.headers['if-none-match']
  if (match !== undefined && match.split(',').some((tag) => tag.trim().replace(/^W\//, '') === file.etag)) {
    return reply.code(304).send()
  }
  return reply.type(file.type).send(file.body)
}

/**
 * A WebSocket upgrade to a file is a 404: @fastify/websocket would otherwise open the socket and
 * close it, logging the URL with its query string.
 */
async function notAnUpgrade (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  if (!request.ws) return
  reply.callNotFound()
  return reply
}

/**
 * Serves the browser client on `fastify` (the plugin's prefixed, encapsulated child):
 * `GET /client.js` (classic script, global `RtcSignal`), `GET /client.mjs` (ES module)
 * and their source maps. Files are read once here and served from memory with a strong
 * ETag; `If-None-Match` gets a 304.
 */
export async function registerAssets (fastify: FastifyInstance, _opts: { demo: boolean, prefix: string }): Promise<void> {
  const dir = builtDir(CLIENT_DIR, 'client.js')
  for (const [file, type] of CLIENT_FILES) {
    const path = join(dir, file)
    if (!existsSync(path)) continue
    const content = asset(readFileSync(path), type)
    fastify.get('/' + file, { logLevel: 'warn', onRequest: notAnUpgrade }, async (request, reply) => send(request, reply, content, CLIENT_CACHE_CONTROL))
  }
}

/**
 * Serves the demo video-call page on `fastify` (a child registered without prefix):
 * `GET /` and `GET /:pool` answer the page, which talks to the WebSocket routes at
 * `prefix`; its script and stylesheet come from @fastify/static at `/_rtc-demo/`.
 */
export async function registerDemo (fastify: FastifyInstance, opts: { prefix: string }): Promise<void> {
  const dir = builtDir(DEMO_DIR, 'demo.js')
  const prefix = opts.prefix === '' ? '/' : opts.prefix
  const html = readFileSync(join(dir, 'index.html'), 'utf8')
    .replaceAll('%RTC_SIGNAL_PREFIX%', escapeAttribute(prefix))
    .replaceAll('%RTC_SIGNAL_ASSETS%', DEMO_ASSETS_PREFIX)
  const page = asset(Buffer.from(html), 'text/html; charset=utf-8')

  await fastify.register(fastifyStatic, {
    root: dir,
    prefix: DEMO_ASSETS_PREFIX + '/',
    decorateReply: false,
    allowedPath: (pathName) => !pathName.endsWith('.html'),
    cacheControl: true,
    maxAge: '1h',
    index: false
  })

  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    reply.header('content-security-policy', "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'")
    reply.header('referrer-policy', 'no-referrer')
    return send(request, reply, page, PAGE_CACHE_CONTROL)
  }
  fastify.get('/', { logLevel: 'warn' }, handler)
  fastify.get('/:pool', { logLevel: 'warn' }, handler)
}

function escapeAttribute (value: string): string {
  return value.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}
