// The package as npm ships it: what `npm pack` puts in the tarball and what an app that installs it sees.

import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { createHash } from 'node:crypto'
import { build } from 'esbuild'
import { createRequire } from 'node:module'
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { promisify } from 'node:util'
import type { Test } from 'tap'

const run = promisify(execFile)
// Packing, installing and compiling apps takes a while on a busy machine: a generous bound for the file.
t.setTimeout(600_000)
const ROOT = join(__dirname, '..')
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const TSC = join(dirname(createRequire(__filename).resolve('typescript/package.json')), 'bin', 'tsc')
const BROWSERIFY = join(dirname(createRequire(__filename).resolve('browserify/package.json')), 'bin', 'cmd.js')
/** Apps that install the packed package: test/fixtures/package/<name>/ (package.json, tsconfig.json, sources). */
const FIXTURES = join(ROOT, 'test', 'fixtures', 'package')
/** What the apps depend on besides the package, in the versions this repository's lock has. */
const APP_DEPENDENCIES = ['fastify', '@types/node', 'ws']

interface PackageJson {
  name: string
  version: string
  files: string[]
  scripts: Record<string, string>
  engines: { node: string }
  bin: Record<string, string>
  dependencies: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, unknown>
  [key: string]: unknown
}

interface LockEntry {
  version: string
  engines?: { node?: string } | string[]
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
  [key: string]: unknown
}

/** semver, which npm and fastify use (no types of its own). */
const semver = createRequire(__filename)('semver') as {
  minVersion: (range: string) => { version: string } | null
  satisfies: (version: string, range: string) => boolean
}

/**
 * The entries of this repository's package-lock.json that an install of `dependencies` needs, keyed
 * by their path in the lock (`node_modules/a/node_modules/b`): each name resolved the way Node finds
 * it from the package that asks for it, through its dependencies and required peers.
 */
async function lockClosure (dependencies: Record<string, string>, from = ''): Promise<Map<string, LockEntry>> {
  const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }
  const closure = new Map<string, LockEntry>()
  const find = (dir: string, name: string): string | undefined => {
    for (;;) {
      const key = `${dir === '' ? '' : dir + '/'}node_modules/${name}`
      if (key in lock.packages) return key
      if (dir === '') return undefined
      const up = dir.lastIndexOf('/node_modules/')
      dir = up === -1 ? '' : dir.slice(0, up)
    }
  }
  const add = (dir: string, name: string, optional: boolean): void => {
    const key = find(dir, name)
    if (key === undefined) {
      if (optional) return
      throw new Error(`${name} (needed by ${dir === '' ? 'the root' : dir}) is not in package-lock.json`)
    }
    if (closure.has(key)) return
    const entry = lock.packages[key]
    closure.set(key, entry)
    for (const dep of Object.keys(entry.dependencies ?? {})) add(key, dep, false)
    for (const dep of Object.keys(entry.optionalDependencies ?? {})) add(key, dep, true)
    for (const dep of Object.keys(entry.peerDependencies ?? {})) {
      if (entry.peerDependenciesMeta?.[dep]?.optional !== true) add(key, dep, false)
    }
  }
  for (const name of Object.keys(dependencies)) add(from, name, false)
  return closure
}

async function readPackage (): Promise<PackageJson> {
  return JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as PackageJson
}

interface Packed {
  /** The folder holding the tarball. */
  dir: string
  filename: string
  /** The paths in the tarball. */
  files: string[]
}

let packing: Promise<Packed> | undefined

/**
 * One `npm pack` of the package as built, shared by the tests below (`npm test` builds first, in
 * its pretest). The tarball's folder is removed when this file ends.
 */
async function pack (): Promise<Packed> {
  packing ??= (async () => {
    const built = await stat(join(ROOT, 'dist', 'index.js')).catch(() => null)
    const sources = await Promise.all((await readdir(join(ROOT, 'lib'), { recursive: true })).map((f) => stat(join(ROOT, 'lib', f))))
    if (built === null || sources.some((s) => s.mtimeMs > built.mtimeMs)) throw new Error('dist/ is missing or older than lib/: run `npm run build` first')
    const dir = await mkdtemp(join(tmpdir(), 'rtc-pack-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const { stdout } = await run(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT })
    const [report] = JSON.parse(stdout) as Array<{ filename: string, files: Array<{ path: string }> }>
    return { dir, filename: report.filename, files: report.files.map((f) => f.path) }
  })()
  return await packing
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

t.test('every runtime dependency, down the tree, declares the oldest Node this package supports', async (t) => {
  // What a user installs with the package (its `dependencies`; a peer such as fastify is the user's
  // choice of version). npm warns EBADENGINE for each package whose engines exclude the user's Node.
  const pkg = await readPackage()
  const oldest = semver.minVersion(pkg.engines.node)?.version
  if (oldest === undefined) throw new Error(`engines.node ${pkg.engines.node} admits no version`)
  const excluding: string[] = []
  for (const [key, entry] of await lockClosure(pkg.dependencies)) {
    const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node
    if (range !== undefined && !semver.satisfies(oldest, range)) {
      excluding.push(`${key.slice(key.lastIndexOf('node_modules/') + 13)}@${entry.version} (node ${range})`)
    }
  }
  t.same(excluding, [], `no runtime dependency excludes Node ${oldest} (engines.node ${pkg.engines.node})`)
})

t.test('every source map in the package resolves: its sources are shipped or embedded', async (t) => {
  const { files } = await pack()
  const maps = files.filter((f) => f.endsWith('.map'))
  const unresolved: string[] = []
  for (const file of maps) {
    const map = JSON.parse(await readFile(join(ROOT, file), 'utf8')) as { sources: string[], sourcesContent?: Array<string | null> }
    map.sources.forEach((source, i) => {
      const shipped = files.includes(join(dirname(file), source))
      if (!shipped && typeof map.sourcesContent?.[i] !== 'string') unresolved.push(`${file}: ${source}`)
    })
  }
  t.same(unresolved, [], `${maps.length} maps, none pointing at a file the package does not ship`)
  t.ok(files.includes('dist/index.js'), 'the package was built')
})

/**
 * Installs the packed tarball with APP_DEPENDENCIES into `dir` with
 * `npm ci --offline`: no network. The lock it installs from is made from this repository's
 * package-lock.json, walked from the tarball's own dependencies (so a dependency it forgets to
 * declare is missing), and every package it names is in npm's cache after this repository's
 * `npm ci`. The apps (fixtures) go in subfolders and share this node_modules.
 */
async function installPacked (dir: string): Promise<void> {
  const packed = await pack()
  const tarball = join(packed.dir, packed.filename)
  const spec = `file:${relative(dir, tarball)}`
  const pkg = await readPackage()
  const dependencies: Record<string, string> = { [pkg.name]: spec }
  const lock = await lockClosure(Object.fromEntries(APP_DEPENDENCIES.map((name) => [name, '*'])))
  for (const name of APP_DEPENDENCIES) dependencies[name] = lock.get(`node_modules/${name}`)!.version
  const own = `node_modules/${pkg.name}`
  for (const [key, entry] of await lockClosure(pkg.dependencies, own)) lock.set(key, entry)
  const integrity = 'sha512-' + createHash('sha512').update(await readFile(tarball)).digest('base64')
  const packages: Record<string, unknown> = {
    '': { name: 'apps', dependencies },
    [own]: { version: pkg.version, resolved: spec, integrity, bin: pkg.bin, dependencies: pkg.dependencies, peerDependencies: pkg.peerDependencies, peerDependenciesMeta: pkg.peerDependenciesMeta },
    ...Object.fromEntries([...lock].map(([key, { dev, devOptional, peer, ...entry }]) => [key, entry]))
  }
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'apps', private: true, dependencies }, null, 2))
  await writeFile(join(dir, 'package-lock.json'), JSON.stringify({ name: 'apps', lockfileVersion: 3, requires: true, packages }, null, 2))
  await run(NPM, ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir })
}

/** Copies the fixture app `name` into `dir`; resolves with its folder. */
async function app (dir: string, name: string): Promise<string> {
  const target = join(dir, name)
  await cp(join(FIXTURES, name), target, { recursive: true })
  return target
}

/** tsc over an app's tsconfig.json; the compiler's report is the failure message. */
async function typecheck (t: Test, dir: string, what: string): Promise<void> {
  try {
    await run(process.execPath, [TSC, '-p', dir], { cwd: dir })
    t.pass(what)
  } catch (err) {
    const { stdout, stderr } = err as { stdout: string, stderr: string }
    t.fail(what, { diagnostic: true, tsc: (stdout + stderr).trim() })
  }
}

/** The first fenced block of `lang` after the heading `heading` in README.md. */
async function readmeSnippet (heading: string, lang: string): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  const at = readme.indexOf(`\n${heading}\n`)
  if (at === -1) throw new Error(`README.md has no heading ${heading}`)
  const match = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(readme.slice(at))
  if (match === null) throw new Error(`README.md has no ${lang} block under ${heading}`)
  return match[1]
}

/**
 * The README's snippets as files of the ESM app: Usage, made to listen on 127.0.0.1 port 0 (not
 * 7000) and to take one real join before it closes (join-once.ts), and 'Testing your own app' as is.
 */
async function writeReadmeSnippets (esm: string): Promise<void> {
  const usage = await readmeSnippet('## Usage', 'js')
  const listen = 'await app.listen({ port: 7000 })'
  if (!usage.includes(listen)) throw new Error(`README.md's usage snippet no longer has ${listen}`)
  await writeFile(join(esm, 'usage.ts'), "import { joinOnce } from './join-once.js'\n" +
    usage.replace(listen, "await app.listen({ port: 0, host: '127.0.0.1' })") + 'await joinOnce(app)\n')
  await writeFile(join(esm, 'testing.ts'), await readmeSnippet('### Testing your own app', 'ts'))
}

/**
 * The ESM app's declared.ts: the value exports of the namespace in dist/index.d.ts, as a
 * `Record<keyof typeof module, true>`, so that tsc checks the list is exactly what the types declare
 * and exports.ts checks that Node's ES module loader finds each of them in the CommonJS build.
 */
async function writeDeclaredExports (esm: string): Promise<void> {
  const types = await readFile(join(ROOT, 'dist', 'index.d.ts'), 'utf8')
  const namespace = types.slice(types.indexOf('declare namespace'))
  const names = [...namespace.matchAll(/export \{([^}]*)\};/g)]
    .flatMap((m) => m[1].split(','))
    .map((name) => name.trim().split(/\s+as\s+/).pop() ?? '')
    .filter((name) => name !== '')
  await writeFile(join(esm, 'declared.ts'), "import type * as all from 'fastify-rtc-signal'\n\n" +
    `export const declared: Record<keyof typeof all, true> = {\n${names.map((name) => `  ${name}: true`).join(',\n')}\n}\n`)
}

/** Runs `node args` in an app; the process's output is the failure message. */
async function node (t: Test, dir: string, args: string[], what: string): Promise<void> {
  try {
    await run(process.execPath, args, { cwd: dir })
    t.pass(what)
  } catch (err) {
    const { stdout, stderr } = err as { stdout: string, stderr: string }
    t.fail(what, { diagnostic: true, output: (stdout + stderr).trim() })
  }
}

t.test('the packed package installed in apps', { timeout: 600_000 }, async (t) => {
  const dir = await tempDir(t, 'rtc-pack-')
  await installPacked(dir)
  const [esm, cjs, bundler] = await Promise.all(['esm', 'cjs', 'bundler'].map((name) => app(dir, name)))
  await writeReadmeSnippets(esm)
  await writeDeclaredExports(esm)

  await Promise.all([
    typecheck(t, esm, 'ESM app (nodenext, strict, skipLibCheck off) typechecks, with the README snippets'),
    typecheck(t, cjs, 'CommonJS app (node10 resolution, skipLibCheck off) typechecks'),
    typecheck(t, bundler, 'bundler app (bundler resolution, skipLibCheck off) typechecks')
  ])
  await node(t, esm, ['out/usage.js'], 'ESM: the README usage snippet runs: it registers, listens on 127.0.0.1 and a ws client joins')
  await node(t, esm, ['--test', 'out/testing.js'], 'ESM: the README testing snippet passes')
  await node(t, esm, ['out/exports.js'], 'ESM: default and named imports are the plugin; Node sees every declared export')
  await node(t, cjs, ['out/app.js'], 'CommonJS: import, require and the named export are the plugin')
  await node(t, esm, ['out/client.js'], 'ESM: fastify-rtc-signal/client loads (client.mjs), default and named')
  await node(t, cjs, ['out/client.js'], 'CommonJS: fastify-rtc-signal/client loads (client.cjs), default and named')

  // Page scripts bundled for the browser, then run: each puts the client's connect() on globalThis.
  const bundles: Array<[string, string, () => Promise<unknown>]> = [
    [bundler, 'esbuild: import', () => build({ entryPoints: ['browser.ts'], absWorkingDir: bundler, bundle: true, platform: 'browser', format: 'iife', outfile: 'bundle.js', logLevel: 'silent' })],
    [cjs, 'esbuild: require', () => build({ entryPoints: ['browser.cjs'], absWorkingDir: cjs, bundle: true, platform: 'browser', format: 'iife', outfile: 'bundle.js', logLevel: 'silent' })],
    [cjs, 'browserify: require', () => run(process.execPath, [BROWSERIFY, 'browser.cjs', '-o', 'browserify.js'], { cwd: cjs })]
  ]
  for (const [dir, what, bundle] of bundles) {
    try {
      await bundle()
    } catch (err) {
      t.fail(`${what}: fastify-rtc-signal/client bundles`, { diagnostic: true, error: String((err as { stderr?: string }).stderr ?? err) })
      continue
    }
    const file = what.startsWith('browserify') ? 'browserify.js' : 'bundle.js'
    await node(t, dir, ['-e', `require('./${file}'); if (typeof globalThis.rtcConnect !== 'function') throw new Error('no connect')`], `${what}: fastify-rtc-signal/client bundles and runs`)
  }

  // The command npm installs (node_modules/.bin): a public server, and the conformance check against it.
  const bin = join(dir, 'node_modules', '.bin', 'fastify-rtc-signal')
  const server = spawn(bin, ['--public', '--port', '0', '--host', '127.0.0.1'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL') })
  const exited = once(server, 'exit')
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: server.stdout }).on('line', (line) => {
      const { signalling } = JSON.parse(line) as { signalling?: string }
      if (signalling !== undefined) resolve(signalling)
    })
    exited.then(([code]) => reject(new Error(`the installed command exited (${String(code)})`)), reject)
  })
  await node(t, dir, [bin, 'conformance', url], 'the installed command serves (--public), and its conformance command passes against it')
  server.kill('SIGTERM')
  t.same(await exited, [0, null], 'SIGTERM: the installed command exits 0')
})
