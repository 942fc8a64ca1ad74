/** Durations in the YAML are written `250ms`, `90s`, `15m`, `2h` or `14d`. */
export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)$'

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const durationRe = new RegExp(DURATION_PATTERN)

/** Parses a duration written in the YAML into milliseconds; `undefined` when it is not one. */
export function parseDuration (text: string): number | undefined {
  const m = durationRe.exec(text)
  if (m === null) return undefined
  const unit = UNIT_MS[m[2] as string] as number
  return Math.round(Number(text.slice(0, text.length - (m[2] as string).length)) * unit)
}

/** Writes milliseconds back the way a person would ("2h", "90s"), for messages and `check` output. */
export function formatDuration (ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit] as number
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}
