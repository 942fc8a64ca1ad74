import type { RequestIdentity, LoginRequest } from './identity.js'

/** `user: { header: X-Remote-User }` — a request header set by whatever authenticates in front of the app. */
export function headerStrategy (name: string): RequestIdentity {
  const key = name.toLowerCase()
  return {
    phase: 'request',
    needsBody: false,
    describe: `header ${name}`,
    candidates (req: LoginRequest): string[] {
      const v = req.headers[key]
      if (v === undefined) return []
      return Array.isArray(v) ? v : [v]
    }
  }
}
