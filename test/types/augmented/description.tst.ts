// Descriptions declared once by module augmentation: every place a description appears, on the
// server and in the browser client, has that type. (This folder is its own TypeScript project:
// the augmentation applies to everything it compiles, lib/ included.)
import { expect, test } from 'tstyche'
import Fastify from 'fastify'
import rtcSignal, { type Description, type Endpoint, type JoinHookResult, type MemberInfo, type PoolInfo, type PoolManagerEvents } from 'fastify-rtc-signal'
import type { JoinDetail, ManagedConnection, Pool, PoolEventMap } from 'fastify-rtc-signal/client'

declare module 'fastify-rtc-signal' {
  interface RtcSignalTypes {
    description: { name: string, role?: 'staff' }
  }
}

/** What the augmentation declares; `null` is a member without a description. */
type Declared = { name: string, role?: 'staff' } | null

test('Description is the declared type', () => {
  expect<Description>().type.toBe<Declared>()
})

test('the join hook returns it', () => {
  const app = Fastify()
  expect<JoinHookResult>().type.toBe<boolean | undefined | void | { pool?: string, description?: Declared }>()
  expect(app.register(rtcSignal, { joinHook: async () => ({ description: { name: 'Ada' } }) })).type.not.toRaiseError()
  expect(app.register(rtcSignal, { joinHook: async () => ({ description: { nom: 'Ada' } }) })).type.toRaiseError()
})

test('endpoint.description, members, events and describe() have it', () => {
  expect<Endpoint['description']>().type.toBe<Declared>()
  expect<MemberInfo['description']>().type.toBe<Declared>()
  expect<PoolInfo['members'][number]['description']>().type.toBe<Declared>()
  expect<PoolManagerEvents['join']['endpoint']['description']>().type.toBe<Declared>()
  expect<PoolManagerEvents['event']['endpoint']['description']>().type.toBe<Declared>()
  const app = Fastify()
  expect(app.rtcPools.describe('id', { name: 'Ada', role: 'staff' })).type.toBe<Promise<void>>()
  expect(app.rtcPools.describe('id', null)).type.toBe<Promise<void>>()
  expect(app.rtcPools.describe('id', { name: 'Ada', role: 'admin' })).type.toRaiseError()
  expect(app.rtcPools.describe('id', 'Ada')).type.toRaiseError()
  expect(app.rtcPools.createPool('standup', { allows: (endpoint) => endpoint.description?.role === 'staff' })).type.not.toRaiseError()
})

test('the browser client sees it', () => {
  expect<ManagedConnection['description']>().type.toBe<Declared>()
  expect<Pool['description']>().type.toBe<Declared>()
  expect<JoinDetail['descriptions']>().type.toBe<Record<string, Declared>>()
  expect<PoolEventMap['describe']['detail']['description']>().type.toBe<Declared>()
})
