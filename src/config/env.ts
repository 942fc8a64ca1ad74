/**
 * `${NAME}` and `${NAME:-fallback}` in YAML values are replaced by environment
 * variables. Substitution happens on parsed scalars, never on the raw text, so
 * a variable's value cannot inject YAML structure, and positions in messages
 * stay those of the file.
 *
 * An unquoted `${X}` is not valid YAML inside a flow mapping (`{ port: ${PORT} }`),
 * so before parsing each reference is masked by a placeholder of the same length
 * (keeping every line and column), and unmasked in the parsed scalars.
 */
const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

export interface Substitution {
  value: string
  /** Names of variables that are neither set nor have a fallback. */
  missing: string[]
  /** True when the whole value was one `${…}` reference (its result may then be a number or a boolean). */
  whole: boolean
}

export function substituteEnv (text: string, env: NodeJS.ProcessEnv): Substitution | undefined {
  if (!text.includes('${')) return undefined
  const missing: string[] = []
  let count = 0
  const value = text.replace(VARIABLE, (_all, name: string, fallback: string | undefined) => {
    count++
    const v = env[name]
    if (v !== undefined && v !== '') return v
    if (fallback !== undefined) return fallback
    missing.push(name)
    return ''
  })
  if (count === 0) return undefined
  VARIABLE.lastIndex = 0
  const whole = count === 1 && /^\$\{[^}]*\}$/.test(text)
  return { value, missing, whole }
}

const MASK_START = '\uE000'
const MASK_FILL = '\uE001'
const MASKED = /\uE000([0-9a-z]+)\uE001*/g

export interface Masked {
  text: string
  /** Puts the original `${…}` text back into a scalar that holds placeholders. */
  unmask: (value: string) => string
}

export function maskEnvReferences (text: string): Masked {
  const refs: string[] = []
  const masked = text.replace(VARIABLE, (ref) => {
    const id = (refs.push(ref) - 1).toString(36)
    // `${X}` is at least 4 characters; ids stay shorter than that up to 36^3 references.
    return MASK_START + id + MASK_FILL.repeat(Math.max(0, ref.length - 1 - id.length))
  })
  VARIABLE.lastIndex = 0
  return {
    text: masked,
    unmask: (value) => value.includes(MASK_START)
      ? value.replace(MASKED, (_m, id: string) => refs[parseInt(id, 36)] ?? '')
      : value
  }
}
