// Self time per function and per package of a V8 CPU profile (.cpuprofile),
// in µs per request: bench/profile.mjs and bench/ab.mjs print it.

export function where (cf) {
  const url = cf.url.replace(/^file:\/\//, '')
  const nm = url.lastIndexOf('node_modules/')
  if (nm !== -1) { const rest = url.slice(nm + 13); return rest.split('/').slice(0, rest.startsWith('@') ? 2 : 1).join('/') }
  const d = url.indexOf('/dist/')
  if (d !== -1) return `src/${url.slice(d + 6).replace(/\.js$/, '.ts')}`
  if (url.includes('/bench/')) return `bench/${url.split('/bench/')[1]}`
  if (url.startsWith('node:')) return url
  return url === '' ? `(${cf.functionName || 'native'})` : url
}

/** Self time per function and per package, in µs per request. */
export function selfTimes (profile, requests) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map()
  for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0))
  const fn = new Map()
  const pkg = new Map()
  let busy = 0
  for (const [nodeId, t] of self) {
    const cf = byId.get(nodeId).callFrame
    if (cf.functionName === '(idle)') continue
    busy += t
    const w = where(cf)
    const name = `${cf.functionName || '(anonymous)'} ${w}${cf.url.includes('/dist/') || cf.url.includes('node_modules') ? `:${cf.lineNumber + 1}` : ''}`
    fn.set(name, (fn.get(name) ?? 0) + t / requests)
    pkg.set(w, (pkg.get(w) ?? 0) + t / requests)
  }
  return { fn, pkg, busyUsPerRequest: busy / requests }
}
