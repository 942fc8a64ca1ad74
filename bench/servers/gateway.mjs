// sessioncap itself, built from dist/ with a configuration given as YAML in
// argv[2] (the bench writes it), listening on a free loopback port.
import { loadConfigText } from '../../dist/config/load.js'
import { createGateway } from '../../dist/proxy/gateway.js'
import { tuneV8ForProxying } from '../../dist/cli/run.js'
import { profilingOnIpc } from './profiling.mjs'

// As `sessioncap run` does (see src/cli/run.ts): the gateway measured is the one users run.
tuneV8ForProxying()
const { config } = loadConfigText(process.argv[2], 'bench.yaml', {})
const gateway = await createGateway(config)
const url = await gateway.listen()
process.send?.({ ready: true, url, store: gateway.store.kind })
if (process.env.BENCH_PROFILE === '1') profilingOnIpc()
// bench/soak.mjs samples memory: { cmd: 'memory' } (after a full collection when run with --expose-gc).
process.on('message', (m) => {
  if (m?.cmd !== 'memory') return
  if (typeof globalThis.gc === 'function') globalThis.gc()
  const stats = m.stats === true ? gateway.store.stats(Date.now()) : Promise.resolve(undefined)
  void stats.then((s) => s, () => undefined).then((s) => { process.send?.({ memory: process.memoryUsage(), stats: s }) })
})
process.on('disconnect', () => { void gateway.close().then(() => process.exit(0)) })
