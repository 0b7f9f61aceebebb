// The Redis adapter's wire codecs, without Redis: what the Lua scripts publish and what processes
// send each other decodes to the typed unions, and anything else is refused.
import t from 'tap'
import {
  decodeJoinReply, decodeLocation, decodeNodeMessages, decodePoolEvent, decodeReaped, decodeSnapshot, encodeNodeMessages
} from '../../lib/adapters/redis/codec'
import { keySlot, poolKeys, poolTag } from '../../lib/adapters/redis/cluster-keys'

t.test('pool events, as the scripts write them', async (t) => {
  t.same(decodePoolEvent('{"t":"j","s":7,"id":"a","n":"node-1","d":{"name":"ada"}}'), { type: 'join', seq: 7, member: { id: 'a', node: 'node-1', description: { name: 'ada' } } })
  t.same(decodePoolEvent('{"t":"j","s":8,"id":"b","n":"node-1","d":null}'), { type: 'join', seq: 8, member: { id: 'b', node: 'node-1', description: null } })
  t.same(decodePoolEvent('{"t":"l","s":9,"id":"a"}'), { type: 'leave', seq: 9, id: 'a' })
  t.same(decodePoolEvent('{"t":"d","s":10,"id":"b","d":{"role":"host"}}'), { type: 'describe', seq: 10, id: 'b', description: { role: 'host' } })
  t.same(decodePoolEvent('{"t":"c","s":11}'), { type: 'close', seq: 11 })
})

t.test('a malformed pool event is refused', async (t) => {
  for (const text of ['', 'null', '[]', '{"t":"l","id":"a"}', '{"t":"l","s":"1","id":"a"}', '{"t":"l","s":1}', '{"t":"j","s":1,"id":"a"}', '{"t":"x","s":1,"id":"a"}']) {
    t.throws(() => decodePoolEvent(text), text)
  }
})

t.test('node messages: encode and decode are inverse, frames and reasons keep their spaces', async (t) => {
  const deliver = { type: 'deliver', pool: 'lobby', target: 'peer-1', text: '{"type":"rtc:sdp","data":{"sdp":"v=0 o=- 1"}}' } as const
  const kick = { type: 'kick', target: 'peer-2', reason: 'out of here' } as const
  t.equal(encodeNodeMessages([deliver]), `dpeer-1 ${deliver.text}`, 'a message alone: the wire format is unchanged')
  t.same(decodeNodeMessages(encodeNodeMessages([deliver]), 'lobby'), [deliver], 'the pool is the channel\'s')
  t.same(decodeNodeMessages(encodeNodeMessages([kick])), [kick])
  for (const text of ['', 'd', 'dpeer', 'd frame', 'xpeer frame']) t.same(decodeNodeMessages(text), [], JSON.stringify(text))
})

t.test('a batch of node messages: one publish, decoded in order; a broken one is refused', async (t) => {
  const batch = [
    { type: 'deliver', pool: 'p', target: 'a', text: '{"type":"rtc:candidate","data":{"from":"x:1","candidate":null}}' },
    { type: 'kick', target: 'b', reason: '12:34 colons and spaces' },
    { type: 'deliver', pool: 'p', target: 'a', text: 'ü \u2028 ✓' }
  ] as const
  const text = encodeNodeMessages(batch)
  t.equal(text[0], 'b')
  t.same(decodeNodeMessages(text, 'p'), batch)
  t.same(decodeNodeMessages(`b5:xjunk${text.slice(1)}`, 'p'), batch, 'an unknown kind inside is skipped')
  for (const broken of ['b9:dshort', 'bx:da b', 'b3']) t.throws(() => decodeNodeMessages(broken), broken)
})

t.test('script replies', async (t) => {
  const raw = ['lobby', '4', '0', 'a', 'n1', '{"name":"ada"}', 'b', 'n2', 'null']
  const snapshot = { seq: 12, settings: { name: 'lobby', maxMembers: 4, persistent: false }, members: [{ id: 'a', node: 'n1', description: { name: 'ada' } }, { id: 'b', node: 'n2', description: null }] }
  t.same(decodeSnapshot(12, raw), snapshot, 'members in join order')
  t.equal(decodeSnapshot(12, null), null, 'no such pool')
  t.same(decodeJoinReply(['ok', '1', 12, raw]), { status: 'ok', created: true, snapshot })
  t.same(decodeJoinReply(['present', '0', 12, raw]), { status: 'present', created: false, snapshot })
  t.same(decodeJoinReply(['pool-full']), { status: 'pool-full' })
  t.same(decodeJoinReply(['elsewhere']), { status: 'elsewhere' })
  t.same(decodeReaped(['n1', 2, 'n2', 0]), [{ node: 'n1', members: 2 }, { node: 'n2', members: 0 }])
  t.same(decodeLocation('3f1c:room:with:colons'), { node: '3f1c', pool: 'room:with:colons' }, 'the first colon splits')
  t.equal(decodeLocation(null), null)
})

t.test('cluster keys: a pool\'s tag keeps every key in one slot, one name one tag', async (t) => {
  t.equal(poolTag('lobby'), 'lobby', 'a plain name is its own tag')
  for (const name of ['a}b{c', '{x}', '}', '%41', 'ü{']) {
    t.match(poolTag(name), /^%[0-9a-f]+$/, `${name}: braces or a leading % are hex-encoded`)
    const k = poolKeys('rtc:', name)
    t.equal(new Set([...k.keys, k.ev, `${k.to}node-1`].map(keySlot)).size, 1, `${name}: one slot`)
  }
  t.not(poolTag('%41'), poolTag('A'), 'an encoded name never equals a plain one')
  // Reference values of Redis Cluster's CLUSTER KEYSLOT.
  t.equal(keySlot('foo'), 12182)
  t.equal(keySlot('{user1000}.following'), keySlot('{user1000}.followers'))
  t.equal(keySlot('123456789'), 12739, 'CRC16/XMODEM check value mod 16384')
})
