// Bundles the browser client (lib/client) and the demo page script (lib/demo) with esbuild,
// and copies the demo's static files. Run by `npm run build` after tsc.
//   dist/client/client.mjs    ES module: `import` of fastify-rtc-signal/client, and served at {prefix}/client.mjs
//   dist/client/client.cjs    CommonJS: `require` of fastify-rtc-signal/client (browserify, older bundlers)
//   dist/client/client.js     classic script, one global: RtcSignal (served at {prefix}/client.js)
//   dist/client/*.d.mts       the types for `import` (tsc wrote the .d.ts, CommonJS-format, for `require`)
//   dist/demo/                index.html, demo.css, demo.js

import { build } from 'esbuild'
import { cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
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
  build({ ...common, entryPoints: [client], format: 'cjs', outfile: join(root, 'dist/client/client.cjs') }),
  build({ ...common, entryPoints: [client], format: 'iife', globalName: 'RtcSignal', outfile: join(root, 'dist/client/client.js') }),
  build({ ...common, entryPoints: [join(root, 'lib/demo/demo.ts')], format: 'iife', outfile: join(root, 'dist/demo/demo.js') })
])

await mkdir(join(root, 'dist/demo'), { recursive: true })
for (const file of await readdir(join(root, 'lib/demo'))) {
  if (!file.endsWith('.ts')) await cp(join(root, 'lib/demo', file), join(root, 'dist/demo', file))
}

// The package has no "type": "module", so tsc's .d.ts files are CommonJS-format: right for
// `require`, wrong for `import` (a default export would read as module.exports). Each gets an
// ESM-format twin, .d.mts, whose relative imports name files that exist for Node's ESM
// resolution: a sibling's .d.mts (./pool.mjs) or, for the server-side types it shares, the
// .d.ts one level up (../protocol.js).
const clientDir = join(root, 'dist/client')
for (const file of await readdir(clientDir)) {
  if (!file.endsWith('.d.ts')) continue
  const text = await readFile(join(clientDir, file), 'utf8')
  const esm = text.replace(/(\bfrom\s*|\bimport\s*\(\s*)(['"])(\.\.?\/[^'"]+?)(\.js)?\2/g, (_match, before, quote, path) =>
    `${before}${quote}${path}${path.startsWith('./') ? '.mjs' : '.js'}${quote}`)
  await writeFile(join(clientDir, file.replace(/\.d\.ts$/, '.d.mts')), esm)
}
