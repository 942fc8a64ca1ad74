/**
 * Which names of a request's fields an app reads as a given one.
 *
 * A login names its user in a field, and the gateway must read the user the
 * app will sign in. Not every framework reads a field's name as written:
 *
 * - PHP (`$_POST`, `$_GET`, `$_REQUEST`: php_register_variable_ex) cuts a
 *   name at a NUL, drops its leading spaces, turns ' ' and '.' into '_' and
 *   a '[' with no ']' after it into '_' (and the ' ', '.', '[' after that);
 *   `a[b]` indexes an array, and after an index anything but another '[' is
 *   dropped: `%20username`, `user.name` (as `user_name`), `username%00x` and
 *   `user[email]x` are `username`, `user_name`, `username`, `user[email]`.
 * - Rack 2 (Rails' params before Rack 3: normalize_params) takes each key
 *   from between any brackets around it: `[username]`, `]username` and
 *   `username]` are `username`; `[user][email]` and `user][email]` are
 *   `user[email]`. qs (Express's extended urlencoded parser) also reads
 *   `[username]` as `username`.
 * - ASP.NET Core reads form keys, and ASP.NET Core and Go read JSON members,
 *   without regard to case.
 *
 * A client that sends the field twice, once as the gateway reads it and once
 * as only the app does (`username=carol&%20username=bob`: PHP signs in bob),
 * would be counted as someone else: bob's guesses charged to carol, bob's
 * sessions to carol's limit. So every name any of these reads as the field is
 * a reading of it, and readings that disagree refuse the login as ambiguous
 * (identity.ts). A browser sends a form's fields as the form names them:
 * nothing a real client sends is read differently.
 */
export type FieldNameTest = (name: string) => boolean

const READINGS: ReadonlyArray<(name: string) => string | undefined> = [
  (name) => name.toLowerCase(),
  phpName,
  rackName
]

/** A test of whether a field name is read as `field` by some framework (module doc). */
export function readsAs (field: string): FieldNameTest {
  const wanted = READINGS.map((read) => read(field))
  return (name) => {
    if (name === field) return true
    for (let i = 0; i < READINGS.length; i++) {
      const w = wanted[i]
      if (w !== undefined && (READINGS[i] as (n: string) => string | undefined)(name) === w) return true
    }
    return false
  }
}

/** A name as PHP registers it (`a[b][c]` for an array's member); undefined: PHP registers nothing. */
export function phpName (raw: string): string | undefined {
  const nul = raw.indexOf('\0')
  let n = nul === -1 ? raw : raw.slice(0, nul)
  let start = 0
  while (n.charCodeAt(start) === 32) start++
  n = n.slice(start)
  let base = ''
  let i = 0
  for (; i < n.length && n[i] !== '['; i++) {
    const c = n[i] as string
    base += c === ' ' || c === '.' ? '_' : c
  }
  if (base === '') return undefined
  if (i === n.length) return base
  const keys: string[] = []
  while (i < n.length && n[i] === '[') {
    const close = n.indexOf(']', i + 1)
    if (close === -1) {
      // Not an index: the '[' and what follows are part of the name.
      if (keys.length === 0) return `${base}_${n.slice(i + 1).replace(/[ .[]/g, '_')}`
      break
    }
    keys.push(n.slice(i + 1, close))
    i = close + 1
  }
  return base + keys.map((k) => `[${k}]`).join('')
}

const RACK_KEY = /^[[\]]*([^[\]]+)\]*/
const MAX_RACK_DEPTH = 32

/** A name as Rack 2 nests it (`a[b][c]`); undefined: an array, or nothing Rack names so. */
export function rackName (raw: string): string | undefined {
  const keys: string[] = []
  let rest = raw
  for (let depth = 0; depth < MAX_RACK_DEPTH; depth++) {
    const m = RACK_KEY.exec(rest)
    if (m === null) return undefined
    keys.push(m[1] as string)
    rest = rest.slice(m[0].length)
    if (rest === '') return (keys[0] as string) + keys.slice(1).map((k) => `[${k}]`).join('')
    // `a[` is a key of its own (the whole name); `a[]` an array.
    if (rest === '[' || rest.startsWith('[]')) return undefined
  }
  return undefined
}
