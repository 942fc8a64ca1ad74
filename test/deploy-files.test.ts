import t from 'tap'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { parse, parseAllDocuments } from 'yaml'
import { loadConfigFile, loadConfigText } from '../src/config/load.js'
import { ConfigSchema } from '../src/config/schema.js'
import { cli } from './helpers/cli.js'
import { dockerContextHas, parseCopy, parseDockerfile, parseUnit, type Stage } from './helpers/deploy-parsers.js'
import { ROOT } from './helpers/package.js'

/**
 * What can be checked of the deployment files without a Docker daemon,
 * systemd or a cluster: that they name what exists, install what the
 * package test tests, and carry configurations sessioncap accepts.
 */

const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8')
const SECRET = randomBytes(32).toString('base64url')
const TOKEN = randomBytes(24).toString('base64url')
const MADE_UP = { SESSIONCAP_SECRET: SECRET, SESSIONCAP_ADMIN_TOKEN: TOKEN }

const stages = parseDockerfile(read('Dockerfile'))
const stage = (name: string): Stage => {
  const s = stages.find((x) => x.name === name)
  if (s === undefined) throw new Error(`no stage ${name} in the Dockerfile`)
  return s
}
const args = (s: Stage, keyword: string): string[] => s.instructions.filter((i) => i.keyword === keyword).map((i) => i.args)
/** Written `["a", "b"]` (exec form) or as a shell line. */
const execForm = (text: string): string[] => text.startsWith('[') ? JSON.parse(text) as string[] : [text]

/** docker.yaml, the image's configuration, as the gateway reads it with made-up secrets. */
const imageConfig = loadConfigFile(join(ROOT, 'config/docker.yaml'), MADE_UP).config
/** Whether this checkout has `pages.health` yet (it comes with the health probes of issue #13). */
const schemaHasHealth = Object.hasOwn((ConfigSchema.properties.pages as { properties: object }).properties, 'health')

t.test('Dockerfile: every COPY from the build context exists and is let through .dockerignore', async (t) => {
  const ignore = read('.dockerignore')
  const copies = stages.flatMap((s) => args(s, 'COPY').map((a) => ({ stage: s.name, ...parseCopy(a) })))
  t.ok(copies.length > 5)
  for (const copy of copies) {
    if (copy.from !== undefined) {
      t.ok(stages.findIndex((s) => s.name === copy.from) < stages.findIndex((s) => s.name === copy.stage), `${copy.stage}: COPY --from=${copy.from} names an earlier stage`)
      continue
    }
    for (const source of copy.sources) {
      t.ok(existsSync(join(ROOT, source)), `${copy.stage}: ${source} exists`)
      t.ok(dockerContextHas(ignore, source), `${copy.stage}: ${source} is in the build context`)
    }
  }
  t.notOk(dockerContextHas(ignore, 'node_modules'), 'node_modules stays out of the context')
  t.notOk(dockerContextHas(ignore, 'test/helpers/cli.ts'), 'so do the tests')
})

t.test('Dockerfile: the runtime stage is the packed tarball, installed with production dependencies only, as a non-root user', async (t) => {
  t.equal(stages.at(-1)?.name, 'runtime', 'the runtime stage is the default target')
  for (const s of stages) t.equal(s.from, 'node:24-bookworm-slim', `${s.name} on Node 24`)
  t.ok(args(stage('build'), 'RUN').some((r) => /npm pack\b/.test(r)), 'the build stage packs')
  const runtime = stage('runtime')
  const copies = args(runtime, 'COPY').map(parseCopy)
  t.same(copies.map((c) => c.from), ['build'], 'the runtime stage takes nothing from the checkout, only the build stage\'s tarball')
  t.match(copies[0]?.sources, [/\.tgz$/])
  const tarball = copies[0]?.dest ?? ''
  t.ok(args(runtime, 'RUN').some((r) => r.includes(`npm install -g --omit=dev`) && r.includes(tarball)), 'it installs that tarball, production dependencies only')
  const user = args(runtime, 'USER').at(-1)
  t.ok(user !== undefined && !['root', '0'].includes(user), `runs as ${String(user)}`)
  t.same(execForm(args(runtime, 'ENTRYPOINT')[0] ?? ''), ['sessioncap'])
  const configPath = /SESSIONCAP_CONFIG=(\S+)/.exec(args(runtime, 'ENV').join(' '))?.[1]
  t.ok(args(runtime, 'RUN').some((r) => r.includes(`config/docker.yaml" ${String(configPath)}`)), 'SESSIONCAP_CONFIG is the package\'s docker.yaml')
})

t.test('Dockerfile: the HEALTHCHECK asks the liveness probe on the proxied port, with node (no curl in the slim image)', async (t) => {
  const check = args(stage('runtime'), 'HEALTHCHECK')[0] ?? ''
  const cmd = execForm(check.replace(/^.*?CMD /, ''))
  t.equal(cmd[0], 'node')
  t.match(cmd.join(' '), `http://127.0.0.1:${imageConfig.listen.port}${imageConfig.pages.prefix}healthz`)
  t.ok(args(stage('demo-app'), 'USER').length > 0, 'the demo app runs unprivileged too')
  if (schemaHasHealth) {
    // Merged with the health probes: the image's configuration must now serve what its HEALTHCHECK asks.
    t.equal((imageConfig.pages as { health?: unknown }).health, true, 'config/docker.yaml sets pages.health: true')
  } else {
    t.match(read('config/docker.yaml'), /^# pages: \{ health: true \}$/m, 'pages.health is not in this schema yet: config/docker.yaml has it ready, commented out')
  }
})

/** Compose's `${NAME:?message}` and `${NAME:-default}`, substituted as compose does, with the made-up secrets. */
function composeValue (value: string): string {
  return value.replace(/\$\{([A-Z_]+)(?::[?-]([^}]*))?\}/g, (_m, name: string) => (MADE_UP as Record<string, string>)[name] ?? '')
}

t.test('docker-compose.yml: parses; services, healthchecks, grace period; every variable it sets is one the config reads', async (t) => {
  const text = read('docker-compose.yml')
  const compose = parse(text, { merge: true }) as { services: Record<string, Record<string, unknown>> }
  const services = compose.services
  t.same(Object.keys(services).sort(), ['app', 'gateway-1', 'gateway-2', 'redis'])
  t.same(services.app?.build, { context: '.', target: 'demo-app' }, 'the stand-in app is the Dockerfile\'s demo-app stage')
  for (const [name, service] of Object.entries(services)) t.ok(service.healthcheck, `${name} has a healthcheck`)
  const configText = read('config/docker.yaml')
  for (const name of ['gateway-1', 'gateway-2']) {
    const gw = services[name] ?? {}
    t.same(gw.build, { context: '.', target: 'runtime' })
    const env = gw.environment as Record<string, string>
    // Required, without a default: compose refuses to start without them.
    t.match(env.SESSIONCAP_SECRET, /^\$\{SESSIONCAP_SECRET:\?[^}]+\}$/, `${name}: the secret is required`)
    t.equal(env.SESSIONCAP_ADMIN_TOKEN, '${SESSIONCAP_ADMIN_TOKEN:?set SESSIONCAP_ADMIN_TOKEN}', `${name}: the admin token is required`)
    for (const variable of Object.keys(env)) {
      t.ok(variable === 'SESSIONCAP_CONFIG' || configText.includes(`\${${variable}`), `${name}: ${variable} is read by config/docker.yaml`)
    }
    const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, composeValue(v)]))
    const { config } = loadConfigText(configText, 'docker.yaml', resolved)
    t.equal(config.upstream, 'http://app:8000')
    t.equal(config.store.type, 'redis')
    t.equal(config.admin?.token, TOKEN, 'the admin API is on, with the token from the environment')
    const grace = /^(\d+)s$/.exec(String(gw.stop_grace_period))
    t.ok(grace !== null && Number(grace[1]) * 1000 > config.shutdownTimeout, `${name}: stop_grace_period ${String(gw.stop_grace_period)} > shutdownTimeout ${config.shutdownTimeout} ms`)
    t.same((gw.healthcheck as { test: unknown }).test, ['CMD', ...execForm((args(stage('runtime'), 'HEALTHCHECK')[0] ?? '').replace(/^.*?CMD /, ''))], `${name}: the image's healthcheck`)
  }
  const dir = t.testdir({})
  writeFileSync(join(dir, 'docker.yaml'), configText)
  const check = await cli(['check', '--config', join(dir, 'docker.yaml')], MADE_UP)
  t.equal(check.code, 0, `sessioncap check on config/docker.yaml: ${check.stderr}`)
})

t.test('systemd unit: parses; secrets from an EnvironmentFile, restarts on failure, waits longer than shutdownTimeout, hardened', async (t) => {
  const unit = parseUnit(read('docs/deploy/sessioncap.service'))
  const service = unit.get('Service') ?? new Map<string, string[]>()
  const one = (key: string): string | undefined => service.get(key)?.at(-1)
  t.ok(unit.has('Unit') && unit.has('Install'))
  t.match(one('ExecStart'), /\/sessioncap run$/)
  t.ok(one('EnvironmentFile'), 'the secret and token come from an EnvironmentFile')
  t.equal(one('Restart'), 'on-failure')
  t.ok(one('User') !== undefined && one('User') !== 'root', 'a dedicated user')
  // The example configuration the unit's README installs; its shutdownTimeout is the default.
  const example = loadConfigFile(join(ROOT, 'config/sessioncap.example.yaml'), MADE_UP).config
  t.ok(Number(one('TimeoutStopSec')) * 1000 > example.shutdownTimeout, `TimeoutStopSec ${String(one('TimeoutStopSec'))}s > shutdownTimeout ${example.shutdownTimeout} ms`)
  t.equal(one('NoNewPrivileges'), 'yes')
  t.equal(one('ProtectSystem'), 'strict')
  t.equal(one('StateDirectory'), 'sessioncap', 'the snapshot folder, /var/lib/sessioncap, stays writable')
  t.notOk(service.has('MemoryDenyWriteExecute'), 'V8 needs to write the code it compiles')
})

t.test('Kubernetes manifest: parses; the Deployment, Service, ConfigMap, Secret and PDB fit together; the ConfigMap passes sessioncap check', async (t) => {
  const docs = parseAllDocuments(read('docs/deploy/kubernetes.yaml')).map((d) => d.toJS() as Record<string, any>) // eslint-disable-line @typescript-eslint/no-explicit-any -- free-form manifests, checked field by field below
  const kind = (k: string): Record<string, any> => { // eslint-disable-line @typescript-eslint/no-explicit-any -- as above
    const found = docs.find((d) => d.kind === k)
    if (found === undefined) throw new Error(`no ${k} in the manifest`)
    return found
  }
  t.same(docs.map((d) => String(d.kind)).sort(), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Secret', 'Service'])
  const secret = kind('Secret')
  const configMap = kind('ConfigMap')
  const deployment = kind('Deployment')
  const pod = deployment.spec.template.spec
  const container = pod.containers[0]
  t.equal(deployment.spec.replicas, 2)

  const text = configMap.data['sessioncap.yaml'] as string
  const env = Object.fromEntries((container.env as { name: string, value?: string, valueFrom?: { secretKeyRef: { name: string, key: string } } }[]).map((e) => {
    if (e.valueFrom === undefined) return [e.name, e.value]
    t.equal(e.valueFrom.secretKeyRef.name, secret.metadata.name, `${e.name} from the Secret`)
    t.ok(Object.hasOwn(secret.stringData, e.valueFrom.secretKeyRef.key), `the Secret has ${e.valueFrom.secretKeyRef.key}`)
    return [e.name, (MADE_UP as Record<string, string>)[e.name]]
  }))
  t.same(Object.keys(env).sort(), ['SESSIONCAP_ADMIN_TOKEN', 'SESSIONCAP_CONFIG', 'SESSIONCAP_SECRET'])
  const { config } = loadConfigText(text, 'kubernetes.yaml', env)
  t.equal(config.store.type, 'redis', 'Redis is the shared store')
  t.match((config.store as { url?: string }).url, /^redis:\/\//)
  const dir = t.testdir({ 'sessioncap.yaml': text })
  const check = await cli(['check', '--config', join(dir, 'sessioncap.yaml')], MADE_UP)
  t.equal(check.code, 0, `sessioncap check: ${check.stderr}`)
  const withPlaceholders = await cli(['check', '--config', join(dir, 'sessioncap.yaml')], { SESSIONCAP_SECRET: secret.stringData.secret, SESSIONCAP_ADMIN_TOKEN: secret.stringData['admin-token'] })
  t.equal(withPlaceholders.code, 2, 'the Secret\'s example values are refused: nobody runs them by mistake')

  t.equal(env.SESSIONCAP_CONFIG, `${container.volumeMounts.find((m: { name: string }) => m.name === 'config').mountPath as string}/sessioncap.yaml`, 'SESSIONCAP_CONFIG is the ConfigMap\'s file')
  const ports = Object.fromEntries((container.ports as { name: string, containerPort: number }[]).map((p) => [p.name, p.containerPort]))
  t.equal(ports.http, config.listen.port)
  t.equal(ports.admin, config.admin?.port, 'the admin port is the admin listener')
  t.same([container.livenessProbe.httpGet, container.readinessProbe.httpGet], [{ path: '/healthz', port: 'admin' }, { path: '/readyz', port: 'admin' }])
  const preStop = Number(container.lifecycle?.preStop?.exec?.command?.[1] ?? 0)
  t.ok(pod.terminationGracePeriodSeconds * 1000 > preStop * 1000 + config.shutdownTimeout, `terminationGracePeriodSeconds ${String(pod.terminationGracePeriodSeconds)} > preStop ${preStop}s + shutdownTimeout ${config.shutdownTimeout} ms`)
  t.equal(pod.securityContext.runAsNonRoot, true)
  t.equal(container.securityContext.readOnlyRootFilesystem, true)
  t.equal(container.securityContext.allowPrivilegeEscalation, false)
  t.ok(container.resources.requests.memory !== undefined && container.resources.limits.memory !== undefined, 'memory requested and bounded')

  const labels = deployment.spec.template.metadata.labels as Record<string, string>
  const selects = (selector: Record<string, string>): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v)
  t.ok(selects(deployment.spec.selector.matchLabels))
  t.ok(selects(kind('Service').spec.selector), 'the Service selects the gateways')
  t.equal(kind('Service').spec.ports[0].targetPort, 'http')
  t.ok(selects(kind('PodDisruptionBudget').spec.selector.matchLabels), 'the PDB covers the gateways')
  t.ok(kind('PodDisruptionBudget').spec.minAvailable < deployment.spec.replicas, 'a drain can move one gateway at a time')
})
