// Without a declaration, a description is any JSON value: `unknown`, as before augmentation existed.
import { expect, test } from 'tstyche'
import Fastify from 'fastify'
import type { Description, Endpoint, MemberInfo } from 'fastify-rtc-signal'
import type { ManagedConnection, PoolEventMap } from 'fastify-rtc-signal/client'
import rtcSignal from 'fastify-rtc-signal'

test('Description is unknown', () => {
  expect<Description>().type.toBe<unknown>()
  expect<Endpoint['description']>().type.toBe<unknown>()
  expect<MemberInfo['description']>().type.toBe<unknown>()
  expect<ManagedConnection['description']>().type.toBe<unknown>()
  expect<PoolEventMap['describe']['detail']['description']>().type.toBe<unknown>()
})

test('any value goes in', () => {
  const app = Fastify()
  expect(app.rtcPools.describe('id', 'Ada')).type.not.toRaiseError()
  expect(app.register(rtcSignal, { joinHook: async () => ({ description: [1, 2] }) })).type.not.toRaiseError()
})
