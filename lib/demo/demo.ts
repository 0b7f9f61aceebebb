// The demo page: an N-way video call in the pool named by the URL path.
// Built by esbuild (scripts/build-client.mjs) into dist/demo/demo.js.

import { connect, JoinError } from '../client/index'
import type { ManagedConnection, ManagedStream, Pool } from '../client/index'

interface Description { name?: unknown, mic?: unknown, cam?: unknown }

interface Tile {
  element: HTMLElement
  video: HTMLVideoElement
  stream: MediaStream
}

const NAME_KEY = 'rtc-signal-demo-name'
const MAX_NAME = 40

function $<T extends HTMLElement> (selector: string): T {
  const element = document.querySelector<T>(selector)
  if (element === null) throw new Error(`missing ${selector}`)
  return element
}

function randomWord (): string {
  return Math.random().toString(36).slice(2, 8)
}

function describe (description: unknown): Description {
  return description !== null && typeof description === 'object' ? description as Description : {}
}

function displayName (connection: ManagedConnection): string {
  const name = describe(connection.description).name
  return typeof name === 'string' && name.trim() !== '' ? name : 'guest ' + connection.id.slice(0, 4)
}

const status = $<HTMLElement>('#status')
const reconnecting = $<HTMLElement>('#reconnecting')
const tiles = $<HTMLElement>('#tiles')
const template = $<HTMLTemplateElement>('#tile-template')
const nameInput = $<HTMLInputElement>('#name-input')
const micButton = $<HTMLButtonElement>('#mic')
const camButton = $<HTMLButtonElement>('#cam')
const leaveButton = $<HTMLButtonElement>('#leave')
const copyButton = $<HTMLButtonElement>('#copy-link')
const localVideo = $<HTMLVideoElement>('#local-video')
const localTile = $<HTMLElement>('#local-tile')

const prefix = document.querySelector<HTMLMetaElement>('meta[name="rtc-signal-prefix"]')?.content ?? '/rtc'
const params = new URLSearchParams(location.search)

/** Where the page is served ('' at the app's root, '/api' when the plugin is in a context with that prefix). */
const base = document.querySelector<HTMLMetaElement>('meta[name="rtc-demo-base"]')?.content ?? ''
const path = location.pathname.startsWith(base) ? location.pathname.slice(base.length) : location.pathname

let poolName = decodeURIComponent(path.replace(/^\/+/, '').split('/')[0] ?? '')
if (poolName === '') {
  poolName = 'room-' + randomWord()
  history.replaceState(null, '', base + '/' + encodeURIComponent(poolName) + location.search)
}
$<HTMLElement>('#pool-name').textContent = poolName
document.title = `${poolName} · fastify-rtc-signal`

let myName = (params.get('name') ?? localStorage.getItem(NAME_KEY) ?? '').slice(0, MAX_NAME)
if (myName.trim() === '') myName = 'guest-' + randomWord().slice(0, 4)
nameInput.value = myName
$<HTMLElement>('#local-name').textContent = myName

const remote = new Map<string, Tile>()
let pool: Pool | null = null
let media: ManagedStream | null = null

function setStatus (text: string): void {
  status.textContent = text
}

/**
 * The signalling socket's state, on <body data-connection>: `connected`, `reconnecting` (the
 * badge shows; the tiles stay, their media keeps flowing), `disconnected` (gave up).
 */
function setConnection (state: 'connected' | 'reconnecting' | 'disconnected'): void {
  document.body.dataset.connection = state
  reconnecting.hidden = state !== 'reconnecting'
}

function setBadges (element: HTMLElement, description: Description): void {
  element.querySelector<HTMLElement>('.mic-off')!.hidden = description.mic !== false
  element.querySelector<HTMLElement>('.cam-off')!.hidden = description.cam !== false
}

function updateCount (): void {
  if (pool === null || pool.closed) return
  const n = remote.size
  setStatus(n === 0 ? 'Waiting for others to join — share the link' : `${n + 1} in the call`)
}

async function play (video: HTMLVideoElement): Promise<void> {
  try {
    await video.play()
  } catch (err) {
    // AbortError: a newer srcObject/play() superseded this one; nothing to do.
    // NotAllowedError: autoplay with sound refused (no user gesture yet): play muted, unmute on the next click.
    if ((err as Error).name === 'NotAllowedError' && !video.muted) {
      video.muted = true
      await video.play().catch(() => {})
      document.addEventListener('click', () => { video.muted = false }, { once: true })
      setStatus('Click anywhere to hear the others')
    }
  }
}

function addTile (connection: ManagedConnection): Tile {
  const existing = remote.get(connection.id)
  if (existing !== undefined) return existing
  const element = (template.content.firstElementChild as HTMLElement).cloneNode(true) as HTMLElement
  const video = element.querySelector('video')!
  const stream = new MediaStream()
  video.srcObject = stream
  element.dataset.peerId = connection.id
  element.dataset.state = connection.state
  element.querySelector('.name')!.textContent = displayName(connection)
  element.querySelector('.state')!.textContent = connection.state
  setBadges(element, describe(connection.description))
  tiles.append(element)
  const tile = { element, video, stream }
  remote.set(connection.id, tile)
  updateCount()
  return tile
}

function removeTile (id: string): void {
  const tile = remote.get(id)
  if (tile === undefined) return
  remote.delete(id)
  tile.video.srcObject = null
  tile.element.remove()
  updateCount()
}

function sendDescription (): void {
  if (pool === null || pool.closed) return
  pool.send('describe', {
    name: myName,
    mic: media === null ? false : !media.muted('audio'),
    cam: media === null ? false : !media.muted('video')
  })
}

function updateLocal (): void {
  const description = {
    mic: media === null ? false : !media.muted('audio'),
    cam: media === null ? false : !media.muted('video')
  }
  setBadges(localTile, description)
  micButton.textContent = description.mic ? 'Mute mic' : 'Unmute mic'
  micButton.setAttribute('aria-pressed', String(!description.mic))
  camButton.textContent = description.cam ? 'Stop camera' : 'Start camera'
  camButton.setAttribute('aria-pressed', String(!description.cam))
}

async function getMedia (): Promise<MediaStream | null> {
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: { ideal: 640 }, height: { ideal: 480 } }
    })
  } catch (err) {
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true })
    } catch {
      setStatus(`No camera or microphone (${(err as Error).name}); joining to watch only`)
      return null
    }
  }
}

async function start (): Promise<void> {
  setStatus('Asking for camera and microphone…')
  const stream = await getMedia()
  if (stream !== null) {
    localVideo.srcObject = stream
    await play(localVideo)
  }
  setStatus('Connecting…')
  const ice = params.getAll('ice')
  try {
    const joined = await connect(prefix, poolName, {
      query: { name: myName },
      // ?ice=stun:host:port replaces the servers the server sends (example/server.ts: STUN_URL, TURN_*).
      rtcConfig: ice.length > 0 ? { iceServers: [{ urls: ice }] } : {},
      stream: stream ?? undefined
    })
    pool = joined
    media = joined.media
  } catch (err) {
    const reason = err instanceof JoinError ? err.reason : 'error'
    setStatus(`Could not join (${reason}): ${(err as Error).message}`)
    return
  }
  const events = pool.events
  for (const connection of pool.connections) addTile(connection)
  events.addEventListener('peer', (event) => { addTile(event.detail.connection) })
  events.addEventListener('close', (event) => {
    if (event.detail !== null) removeTile(event.detail.id)
  })
  events.addEventListener('track', (event) => {
    const tile = addTile(event.peer)
    for (const old of tile.stream.getTracks()) {
      if (old.kind === event.track.kind) tile.stream.removeTrack(old)
    }
    tile.stream.addTrack(event.track)
    // Re-assign so the element picks up tracks added after it started playing.
    tile.video.srcObject = tile.stream
    play(tile.video).catch(() => {})
  })
  events.addEventListener('describe', (event) => {
    const tile = remote.get(event.detail.connection.id)
    if (tile === undefined) return
    tile.element.querySelector('.name')!.textContent = displayName(event.detail.connection)
    setBadges(tile.element, describe(event.detail.description))
  })
  events.addEventListener('statechange', (event) => {
    const tile = remote.get(event.detail.connection.id)
    if (tile === undefined) return
    tile.element.dataset.state = event.detail.state
    tile.element.querySelector('.state')!.textContent = event.detail.state
  })
  events.addEventListener('join', () => {
    updateCount()
    sendDescription()
  })
  // A dropped signalling socket: the calls go on peer to peer while the client resumes the session
  // (the tiles stay); if it cannot, it rejoins and the tiles of the others come back as they reconnect.
  events.addEventListener('reconnecting', (event) => {
    setConnection('reconnecting')
    setStatus(event.detail.resuming ? 'Signalling lost — the call goes on, reconnecting…' : 'Connection lost — reconnecting…')
  })
  events.addEventListener('resumed', () => {
    setConnection('connected')
    updateCount()
  })
  events.addEventListener('rejoined', () => {
    setConnection('connected')
  })
  events.addEventListener('disconnect', (event) => {
    if (!event.detail.reconnecting) {
      setConnection('disconnected')
      setStatus('Disconnected — reload to join again')
    }
  })
  events.addEventListener('error', (event) => {
    setStatus(`Error: ${event.detail.reason}`)
  })
  events.addEventListener('stop', () => setStatus('The server closed this pool'))
  media?.addEventListener('close', () => {
    // Every track ended: the device was unplugged or the permission revoked.
    if (pool?.closed === false) setStatus('Camera and microphone stopped — reload to get them back')
    micButton.disabled = camButton.disabled = true
    sendDescription()
  })
  updateLocal()
  updateCount()
  setConnection('connected')
  sendDescription()
  Object.assign(window, { rtcDemo: { pool, media } })
}

function toggle (kind: 'audio' | 'video'): void {
  if (media === null) return
  if (media.muted(kind)) media.unmute(kind)
  else media.mute(kind)
  updateLocal()
  sendDescription()
}

micButton.addEventListener('click', () => toggle('audio'))
camButton.addEventListener('click', () => toggle('video'))

nameInput.addEventListener('change', () => {
  const value = nameInput.value.trim().slice(0, MAX_NAME)
  if (value === '') return
  myName = value
  localStorage.setItem(NAME_KEY, myName)
  $<HTMLElement>('#local-name').textContent = myName
  sendDescription()
})

leaveButton.addEventListener('click', () => {
  pool?.close()
  media?.close()
  for (const id of [...remote.keys()]) removeTile(id)
  localVideo.srcObject = null
  setStatus('You left the call')
  micButton.disabled = camButton.disabled = leaveButton.disabled = true
  const again = document.createElement('div')
  again.className = 'left'
  const button = document.createElement('button')
  button.type = 'button'
  button.textContent = 'Rejoin'
  button.addEventListener('click', () => location.reload())
  again.append(button)
  tiles.append(again)
})

copyButton.addEventListener('click', async () => {
  const link = `${location.origin}${base}/${encodeURIComponent(poolName)}`
  try {
    await navigator.clipboard.writeText(link)
    copyButton.textContent = 'Copied!'
  } catch {
    window.prompt('Copy this link', link)
  }
  setTimeout(() => { copyButton.textContent = 'Copy link' }, 2000)
})

start().catch((err: Error) => setStatus(`Error: ${err.message}`))
