// Bundles the browser client (lib/client) and the demo page script (lib/demo) with esbuild,
// and copies the demo's static files. Run by `npm run build` after tsc.
//   dist/client/client.mjs  ES module
//   dist/client/client.js   classic script, one global: RtcSignal
//   dist/demo/              index.html, demo.css, demo.js

import { build } from 'esbuild'
import { cp, mkdir, readdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const common = {
  bundle: true,
  minify: true,
  sourcemap: true,
  target: ['chrome100', 'firefox100', 'safari15'],
  platform: 'browser',
  legalComments: 'none',
  logLevel: 'warning'
}

const client = join(root, 'lib/client/index.ts')
await Promise.all([
  build({ ...common, entryPoints: [client], format: 'esm', outfile: join(root, 'dist/client/client.mjs') }),
  build({ ...common, entryPoints: [client], format: 'iife', globalName: 'RtcSignal', outfile: join(root, 'dist/client/client.js') }),
  build({ ...common, entryPoints: [join(root, 'lib/demo/demo.ts')], format: 'iife', outfile: join(root, 'dist/demo/demo.js') })
])

await mkdir(join(root, 'dist/demo'), { recursive: true })
for (const file of await readdir(join(root, 'lib/demo'))) {
  if (!file.endsWith('.ts')) await cp(join(root, 'lib/demo', file), join(root, 'dist/demo', file))
}
