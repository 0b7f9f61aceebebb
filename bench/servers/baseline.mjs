import { startBaseline } from '../baseline/server.mjs'
import { serve } from './harness.mjs'

const wss = await startBaseline()
serve({
  port: wss.address().port,
  path: '/rtc',
  close: () => new Promise((resolve) => {
    for (const ws of wss.clients) ws.terminate()
    wss.close(resolve)
  })
})
