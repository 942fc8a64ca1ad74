// The small app every variant sits in front of: a ~1 KiB HTML page for any
// GET, and a login route (POST /login, form field `username`) that answers
// 302 with a new session cookie, as a server-side session app would.
// Started by bench/run.mjs with fork(); tells its port over IPC.
import { createServer } from 'node:http'
import { randomBytes } from 'node:crypto'

const PAGE = Buffer.from('<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Dashboard</title></head>\n<body><main>\n' +
  '<h1>Dashboard</h1>\n' +
  Array.from({ length: 14 }, (_, i) => `<p class="row">Row ${String(i).padStart(2, '0')}: lorem ipsum dolor sit amet, consectetur adipiscing.</p>\n`).join('') +
  '</main></body></html>\n')

const server = createServer((req, res) => {
  if (req.method === 'POST' && (req.url === '/login' || req.url.startsWith('/login?'))) {
    // Drain the (small) form body; the user name does not matter to the app.
    req.resume()
    req.on('end', () => {
      res.writeHead(302, {
        location: '/',
        'set-cookie': `sessionid=${randomBytes(24).toString('base64url')}; Path=/; HttpOnly; SameSite=Lax`,
        'content-length': '0'
      })
      res.end()
    })
    return
  }
  if (req.method === 'POST') req.resume()
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': String(PAGE.length), 'cache-control': 'private' })
  res.end(PAGE)
})
server.keepAliveTimeout = 65_000
server.headersTimeout = 66_000
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address()
  process.send?.({ ready: true, url: `http://127.0.0.1:${port}`, pageBytes: PAGE.length })
})
process.on('disconnect', () => { process.exit(0) })
