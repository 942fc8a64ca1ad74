import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { placeholderProblem } from '../src/config/placeholders.js'
import { ROOT } from './helpers/package.js'

/**
 * Every example secret the documentation and the deployment files show is
 * refused, so that copying one into production fails at start instead of
 * working with a key anyone can read here.
 */

/** Files that show secrets to copy. */
const FILES = ['README.md', 'docker-compose.yml', ...readdirSync(join(ROOT, 'config')).map((f) => `config/${f}`), ...readdirSync(join(ROOT, 'docs'), { recursive: true, encoding: 'utf8' }).filter((f) => /\.(md|ya?ml|service|env)$/.test(f)).map((f) => `docs/${f}`)]

/**
 * Literal values given to a secret or token: `SESSIONCAP_SECRET=…`,
 * `SESSIONCAP_ADMIN_TOKEN: …`, `secret: …`, `token: …`, `admin-token: …`
 * (a `${VARIABLE}` reference is not a value; nor is a JWT's HMAC key).
 */
function exampleSecrets (text: string): string[] {
  const found: string[] = []
  // Not a reference (`${…}`), a shell format (`%s`), compose's `${NAME:?message}`
  // or an elision (`token: …` in prose).
  const value = String.raw`["']?([^\s"'$#{}|,?%…][^\s"',}]*)`
  const res = [
    new RegExp(String.raw`(?<!\$\{)SESSIONCAP_(?:SECRET|ADMIN_TOKEN)\s*[=:]\s*${value}`, 'g'),
    new RegExp(String.raw`^\s*(?:secret|token|admin-token):\s*${value}`, 'gm'),
    new RegExp(String.raw`[{,]\s*(?:secret|token):\s*${value}`, 'g')
  ]
  for (const re of res) for (const m of text.matchAll(re)) if (m[1] !== undefined) found.push(m[1])
  return found
}

t.test('every example secret in the README, config/, docker-compose.yml and docs/ is refused', async (t) => {
  const examples = new Set<string>(['change-me-to-a-long-random-string-0123456789']) // the old compose file's, still in copies of it
  for (const file of FILES) for (const s of exampleSecrets(readFileSync(join(ROOT, file), 'utf8'))) examples.add(s)
  t.ok(examples.size >= 3, [...examples].join(', '))
  for (const s of examples) t.ok(placeholderProblem(s), `refused: ${s}`)
})

t.test('spellings of a placeholder are refused; made-up values are not', async (t) => {
  for (const s of ['CHANGE_ME_0123456789abcdef0123456789', 'changeme-please-0123456789abcdef0123', 'replace-me-with-a-real-secret-0123456789', 'your-secret-here-0123456789abcdef0123', 'your_own_token_0123456789', 'placeholder-secret-0123456789abcdef0123', 'x'.repeat(40)]) {
    t.ok(placeholderProblem(s), s)
  }
  for (const s of [randomBytes(48).toString('base64'), randomBytes(24).toString('hex'), 'a-test-secret-that-is-long-enough-0123456789', 's'.repeat(40), 'bench-secret-0123456789abcdef0123456789abcdef']) {
    t.equal(placeholderProblem(s), undefined, s)
  }
})
