// The load generator: autocannon in its own process (pinned to its own core
// by bench/run.mjs), driven over IPC. For each job it runs one fixed-duration
// round and reports requests, status classes, latencies (its own 10 µs
// histogram: autocannon's rounds to whole milliseconds) and its own CPU time.
import autocannon from 'autocannon'

const BUCKET_US = 10
const BUCKETS = 100_000 // up to 1 s; slower answers land in the last bucket

function percentile (hist, total, p) {
  if (total === 0) return null
  const want = Math.ceil(total * p)
  let seen = 0
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]
    if (seen >= want) return (i + 0.5) * BUCKET_US / 1000
  }
  return (hist.length - 0.5) * BUCKET_US / 1000
}

/** Device tokens as the gateway signs them (dist/guard), for `loginUsers.device: { secret, cookie }`. */
async function deviceSigner ({ secret, cookie }) {
  const { createDeviceTokens } = await import('../dist/guard/device-token.js')
  const { createGuardHasher, userKey } = await import('../dist/guard/keys.js')
  const hash = createGuardHasher(secret)
  const tokens = createDeviceTokens({ secrets: [secret], maxAge: 90 * 86_400_000 })
  return { cookie, token: (user) => tokens.sign(userKey(hash, user), Date.now()) }
}

async function run (job) {
  const hist = new Uint32Array(BUCKETS)
  let total = 0
  const status = {}
  const opts = {
    url: job.url,
    connections: job.connections,
    // A fixed number of requests (bench/instructions.mjs), or a fixed time.
    ...(job.amount !== undefined ? { amount: job.amount } : { duration: job.duration }),
    pipelining: 1,
    timeout: 10,
    method: job.method ?? 'GET',
    headers: { accept: job.accept ?? 'application/json', ...(job.headers ?? {}) },
    skipAggregateResult: false
  }
  const pool = job.cookies
  const users = job.loginUsers
  if (pool !== undefined && pool.length > 0) {
    // Each request carries the next session cookie of the pool.
    let i = Math.floor(Math.random() * pool.length)
    opts.requests = [{
      method: opts.method,
      path: job.path ?? '/',
      setupRequest: (req) => {
        i = (i + 1) % pool.length
        req.headers = { ...req.headers, cookie: `sessionid=${pool[i]}; theme=dark` }
        return req
      }
    }]
  } else if (users !== undefined) {
    // A login per request: POST /login with the next user name of the range.
    let i = Math.floor(Math.random() * users.count)
    // `device`: each browser returns with the guard's device cookie for its
    // user (signed here with the gateway's secret, as the gateway signs it
    // after a success).
    const device = users.device === undefined ? undefined : await deviceSigner(users.device)
    opts.requests = [{
      method: 'POST',
      path: '/login',
      setupRequest: (req) => {
        i = (i + 1) % users.count
        req.headers = { ...req.headers, 'content-type': 'application/x-www-form-urlencoded' }
        if (device !== undefined) req.headers.cookie = `${device.cookie}=${device.token(`${users.prefix}${i}`)}`
        req.body = `username=${users.prefix}${i}&password=secret`
        return req
      }
    }]
  } else {
    opts.requests = [{ method: opts.method, path: job.path ?? '/' }]
  }
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  const instance = autocannon(opts)
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    const b = Math.min(BUCKETS - 1, Math.floor(responseTime * 1000 / BUCKET_US))
    hist[b]++
    total++
    const k = `${String(statusCode)[0]}xx`
    status[k] = (status[k] ?? 0) + 1
  })
  const result = await instance
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  const cpu = process.cpuUsage(cpu0)
  return {
    requests: total,
    seconds,
    rps: total / seconds,
    p50: percentile(hist, total, 0.5),
    p99: percentile(hist, total, 0.99),
    status,
    errors: result.errors,
    timeouts: result.timeouts,
    generatorCpuSeconds: (cpu.user + cpu.system) / 1e6
  }
}

process.on('message', (job) => {
  run(job).then((r) => process.send({ id: job.id, result: r }), (err) => process.send({ id: job.id, error: String(err?.stack ?? err) }))
})
process.on('disconnect', () => { process.exit(0) })
process.send({ ready: true })
