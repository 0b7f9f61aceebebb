// The package as npm ships it: what `npm pack` puts in the tarball and what an app that installs it sees.

import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Test } from 'tap'

const run = promisify(execFile)
const ROOT = join(__dirname, '..')
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'

interface PackageJson {
  name: string
  version: string
  files: string[]
  scripts: Record<string, string>
  [key: string]: unknown
}

async function readPackage (): Promise<PackageJson> {
  return JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as PackageJson
}

async function tempDir (t: Test, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('npm pack and npm publish build first: a checkout without dist/ cannot ship nothing', async (t) => {
  // This package.json with its build replaced by a stand-in that writes dist/index.js: what npm
  // packs from a fresh clone (dist/ is ignored by git) shows whether its lifecycle runs the build.
  const dir = await tempDir(t, 'rtc-lifecycle-')
  const pkg = await readPackage()
  pkg.scripts = {
    ...pkg.scripts,
    build: 'node -e "require(\'node:fs\').mkdirSync(\'dist\',{recursive:true});require(\'node:fs\').writeFileSync(\'dist/index.js\',\'\')"'
  }
  await writeFile(join(dir, 'package.json'), JSON.stringify(pkg, null, 2))
  const { stdout } = await run(NPM, ['pack', '--dry-run', '--json'], { cwd: dir })
  const [report] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>
  t.ok(report.files.some((f) => f.path === 'dist/index.js'), 'npm pack ran the build (prepack)')
})
