import { test } from 'tap'
import { SYSTEM_CLOCK } from '../lib/core/clock'
import { Endpoint, type ConnectionRequest, type SocketLike, type WriteLimits } from '../lib/core/endpoint'

/** A socket that records its writes and, like ws over net.Socket, the cork/uncork calls on the TCP socket under it. */
function socket (log: string[]): SocketLike {
  return {
    readyState: 1,
    bufferedAmount: 0,
    send (data: string) { log.push(`send ${data}`) },
    ping () {},
    close () {},
    terminate () {},
    on () { return this },
    _socket: { cork () { log.push('cork') }, uncork () { log.push('uncork') } }
  } as unknown as SocketLike
}

const limits: WriteLimits = { maxBufferedBytes: 1 << 20, slowReaderTimeout: 1000, clock: SYSTEM_CLOCK, slowReader () {} }
const request = {} as unknown as ConnectionRequest
const tick = (): Promise<void> => new Promise((resolve) => { setImmediate(resolve) })

test('one frame in a tick is written at once; from the second on, a socket is corked until the tick ends', async (t) => {
  const a: string[] = []
  const b: string[] = []
  const ea = new Endpoint(socket(a), request, null, limits)
  const eb = new Endpoint(socket(b), request, null, limits)
  await tick()
  ea.send('1')
  eb.send('x')
  t.same(a, ['send 1'], 'a single frame: no cork')
  ea.send('2')
  ea.send('3')
  t.same(a, ['send 1', 'cork', 'send 2', 'send 3'], 'corked once, at the second frame')
  await tick()
  t.same(a, ['send 1', 'cork', 'send 2', 'send 3', 'uncork'], 'uncorked when the tick ends')
  t.same(b, ['send x'], 'the other socket, one frame in that tick, was never corked')
  ea.send('4')
  t.same(a.slice(5), ['send 4'], 'next tick: a single frame is written at once again')
  await tick()
  t.same(a.slice(5), ['send 4'])
})
