/**
 * Words that mark a value copied from an example instead of made up. A
 * placeholder secret that works is worse than none: every deployment that
 * kept it would hash cookies and sign its pages' notes and tokens with a
 * key anyone can read in this repository. Every example secret of the
 * README, config/, docker-compose.yml and docs/ contains one of them
 * (test/placeholders.test.ts checks that each is refused).
 */
const PLACEHOLDER = /change[-_ .]?me|replace[-_ .]?me|placeholder|your[-_ .]?(own[-_ .]?)?(secret|token)|(secret|token)[-_ .]?goes[-_ .]?here|^(secret|token|x+|0+)$/i

/** Says why a secret (or token) is an obvious placeholder, or undefined when it is not. */
export function placeholderProblem (value: string): string | undefined {
  if (!PLACEHOLDER.test(value)) return undefined
  return 'is an example value, not a secret: make one up, e.g. `openssl rand -base64 48`, and pass it through an environment variable'
}

/** The keys that hold a secret of sessioncap's own, checked for placeholders (after environment variables are substituted). */
export function placeholderProblems (config: Record<string, unknown>): { segments: string[], message: string }[] {
  const problems: { segments: string[], message: string }[] = []
  const check = (segments: string[], value: unknown): void => {
    const message = typeof value === 'string' ? placeholderProblem(value) : undefined
    if (message !== undefined) problems.push({ segments, message })
  }
  check(['secret'], config.secret)
  const admin = config.admin
  if (admin !== null && typeof admin === 'object') check(['admin', 'token'], (admin as Record<string, unknown>).token)
  return problems
}
