#!/usr/bin/env node
// Self time by function and by file from a --cpu-prof profile (npm run bench -- --cpu-prof).
// usage: node bench/profile.mjs FILE.cpuprofile|DIR [--top 25]
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { table } from './lib.mjs'

const [target = '.', flag, n] = process.argv.slice(2)
const top = flag === '--top' ? Number(n) : 25
const files = statSync(target).isDirectory()
  ? readdirSync(target, { recursive: true }).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(target, f))
  : [target]

/** Where a frame comes from: lib/x.ts-like paths for the project, package names for dependencies. */
function place (url) {
  if (!url) return '(native)'
  const file = url.replace(/^file:\/\//, '')
  const dep = file.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/)
  if (dep) return `${dep[1]}/${dep[2]}`
  if (file.startsWith('node:')) return file
  return path.relative(process.cwd(), file)
}

for (const file of files) {
  const prof = JSON.parse(readFileSync(file, 'utf8'))
  const nodes = new Map(prof.nodes.map((node) => [node.id, node]))
  const self = new Map()
  prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)))
  const byFunction = new Map()
  const byFile = new Map()
  let total = 0
  let idle = 0
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = nodes.get(id).callFrame
    if (functionName === '(idle)') {
      idle += us
      continue
    }
    total += us
    const where = place(url)
    const key = `${where}:${lineNumber + 1} ${functionName || '(anonymous)'}`
    byFunction.set(key, (byFunction.get(key) ?? 0) + us)
    byFile.set(where, (byFile.get(where) ?? 0) + us)
  }
  const rows = (map) => [...map].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([k, us]) => [k, (us / 1000).toFixed(0), (100 * us / total).toFixed(1)])
  console.log(`\n# ${file}: ${(total / 1000).toFixed(0)} ms busy, ${(idle / 1000).toFixed(0)} ms idle`)
  console.log(table([['function (self time)', 'ms', '%'], ...rows(byFunction)]))
  console.log()
  console.log(table([['file (self time)', 'ms', '%'], ...rows(byFile)]))
}
