import { attachCeiling } from '../baseline/ceiling.mjs'
import { startBaseline } from '../baseline/server.mjs'
import { serveWss } from './harness.mjs'

serveWss(await startBaseline({ attach: attachCeiling }))
