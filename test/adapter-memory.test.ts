// The adapter contract on the default in-memory adapter: one app, every member local.
import { adapterContract } from './adapter-contract'
import { listen } from './helpers'

adapterContract('memory adapter', async (t, opts) => {
  const { app, url } = await listen(t, opts)
  return { apps: [app], urls: [url] }
})
