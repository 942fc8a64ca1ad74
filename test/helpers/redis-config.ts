import { randomBytes } from 'node:crypto'
import { loadConfigText } from '../../src/config/load.js'
import type { Config } from '../../src/config/schema.js'

export const TEST_SECRET = 'a-test-secret-that-is-long-enough-0123456789'

/** A fresh key prefix, so tests sharing one Redis never see each other's keys. */
export function freshPrefix (): string {
  return `sct-${randomBytes(4).toString('hex')}:`
}

/** The store section of a configuration, as the loader would produce it. */
export function redisStoreConfig (where: string, extra = ''): Config['store'] {
  const { config } = loadConfigText(`upstream: http://127.0.0.1:1
secret: ${TEST_SECRET}
session: { cookie: sessionid }
login: [{ path: /login, user: { form: u } }]
store:
  type: redis
  keyPrefix: "${freshPrefix()}"
${where.split('\n').map((l) => `  ${l}`).join('\n')}
${extra.split('\n').map((l) => `  ${l}`).join('\n')}
`, 'test.yaml', {})
  return config.store
}
