// Plausible browser negotiation payloads: a Chrome-like offer with audio, video
// and a data channel (~3.5 KB), and trickled ICE candidates (~200 B). Each
// carries a benchmark marker, `x-bench PAIR.SEQ.MICROS`, in a place a real
// browser would ignore (an extension attribute of the SDP / the candidate line).
import { randomBytes } from 'node:crypto'

const rand = (n) => randomBytes(n).toString('base64').replace(/[+/=]/g, 'x').slice(0, n)
const ufrag = rand(4)
const pwd = rand(24)
const fingerprint = randomBytes(32).toString('hex').toUpperCase().match(/../g).join(':')
const ssrc = () => randomBytes(4).readUInt32BE(0)

const candidates = (mid) => [
  `a=candidate:1467250027 1 udp 2122260223 192.168.1.23 ${50000 + mid} typ host generation 0 network-id 1`,
  `a=candidate:842163049 1 udp 1686052607 203.0.113.7 ${61000 + mid} typ srflx raddr 192.168.1.23 rport ${50000 + mid} generation 0 network-id 1`,
  `a=candidate:${3000000000 + mid} 1 tcp 1518280447 192.168.1.23 9 typ host tcptype active generation 0 network-id 1`
]

function media (mid, kind, payloads, codecs) {
  const lines = [
    `m=${kind} 9 UDP/TLS/RTP/SAVPF ${payloads}`,
    'c=IN IP4 0.0.0.0',
    'a=rtcp:9 IN IP4 0.0.0.0',
    ...candidates(mid),
    `a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, 'a=ice-options:trickle',
    `a=fingerprint:sha-256 ${fingerprint}`, 'a=setup:actpass', `a=mid:${mid}`,
    'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=sendrecv', 'a=msid:stream0 track' + mid, 'a=rtcp-mux', ...codecs
  ]
  const s = ssrc()
  lines.push(`a=ssrc:${s} cname:${ufrag}cname`, `a=ssrc:${s} msid:stream0 track${mid}`)
  return lines
}

function video (pt, name, extra = []) {
  return [`a=rtpmap:${pt} ${name}/90000`, `a=rtcp-fb:${pt} goog-remb`, `a=rtcp-fb:${pt} transport-cc`,
    `a=rtcp-fb:${pt} ccm fir`, `a=rtcp-fb:${pt} nack`, `a=rtcp-fb:${pt} nack pli`, ...extra,
    `a=rtpmap:${pt + 1} rtx/90000`, `a=fmtp:${pt + 1} apt=${pt}`]
}

const head = [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0',
  'a=group:BUNDLE 0 1 2', 'a=extmap-allow-mixed', 'a=msid-semantic: WMS stream0'
]
const audio = media(0, 'audio', '111 63 9 0 8 13 110 126', [
  'a=rtpmap:111 opus/48000/2', 'a=rtcp-fb:111 transport-cc', 'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:63 red/48000/2', 'a=fmtp:63 111/111', 'a=rtpmap:9 G722/8000', 'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000', 'a=rtpmap:13 CN/8000', 'a=rtpmap:110 telephone-event/48000', 'a=rtpmap:126 telephone-event/8000'
])
const vid = media(1, 'video', '96 97 100 101', [
  ...video(96, 'VP8'),
  ...video(100, 'H264', ['a=fmtp:100 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f'])
])
const app = [
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'c=IN IP4 0.0.0.0', ...candidates(2),
  `a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, 'a=ice-options:trickle',
  `a=fingerprint:sha-256 ${fingerprint}`, 'a=setup:actpass', 'a=mid:2', 'a=sctp-port:5000', 'a=max-message-size:262144'
]

// JSON-escaped halves of the SDP, around the marker line.
const esc = (s) => JSON.stringify(s).slice(1, -1)
const sdpBefore = esc([...head, ...audio, ...vid].join('\r\n') + '\r\na=x-bench:')
const sdpAfter = esc('\r\n' + app.join('\r\n') + '\r\n')

/** The two frame makers for one sender → receiver pair, as UTF-8 buffers; `mark` is `PAIR.SEQ.MICROS`. */
export function pairFrames (to) {
  const parts = (before, after) => [Buffer.from(before), Buffer.from(after)]
  const sdp = parts(`{"type":"rtc:sdp","data":{"to":"${to}","description":{"type":"offer","sdp":"${sdpBefore}`, sdpAfter + '"}}}')
  const cand = parts(`{"type":"rtc:candidate","data":{"for":"${to}","candidate":{"candidate":"candidate:1467250027 1 udp 2122260223 192.168.1.23 50001 typ host generation 0 ufrag ${ufrag} network-id 1 x-bench `,
    `","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"${ufrag}"}}}`)
  const make = ([before, after]) => (mark) => Buffer.concat([before, Buffer.from(mark, 'latin1'), after])
  return { sdp: make(sdp), candidate: make(cand) }
}

const MARK = Buffer.from('x-bench')

/** Reads the marker of a relayed frame (a Buffer): [pair, seq, micros], or null if the frame has none. */
export function readMark (buf) {
  const at = buf.indexOf(MARK)
  if (at === -1) return null
  const mark = [0, 0, 0]
  let field = 0
  for (let i = at + 8; i < buf.length; i++) {
    const c = buf[i]
    if (c === 46 && field < 2) field++
    else if (c >= 48 && c <= 57) mark[field] = mark[field] * 10 + c - 48
    else break
  }
  return mark
}
