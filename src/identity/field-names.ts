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
 *   without regard to case, and not only ASCII case: Go matches a name
 *   under Unicode's simple case folding, so `uſername` (U+017F, long s) and
 *   `USERNAME` are both `username`; .NET upper-cases `ı` (U+0131) to `I`.
 *   foldCase covers both for the names fields have (it over-matches a little,
 *   `ß` as `SS`: a spelling read as the field that no app reads is at worst
 *   an ambiguous login refused).
 *
 * A client that sends the field twice, once as the gateway reads it and once
 * as only the app does (`username=carol&%20username=bob`: PHP signs in bob),
 * would be counted as someone else: bob's guesses charged to carol, bob's
 * sessions to carol's limit. So every name any of these reads as the field is
 * a reading of it, and readings that disagree refuse the login as ambiguous
 * (identity.ts). A browser sends a form's fields as the form names them:
 * nothing a real client sends is read differently.
 *
 * PHP's and Rack's readings count only for a field they keep as it is: an
 * app that reads `user.name` is no PHP app (PHP has no such field, only
 * `user_name`), so `user_name` is not a reading of it.
 */
export type FieldNameTest = (name: string) => boolean

/** A name with its case folded as the apps that ignore case fold it (module doc). */
export function foldCase (name: string): string {
  return name.toLowerCase().toUpperCase()
}

type Reading = (name: string) => string | undefined

/** A test of whether a field name is read as `field` by some framework (module doc). */
export function readsAs (field: string): FieldNameTest {
  const readings: Array<[Reading, string]> = [[foldCase, foldCase(field)]]
  for (const read of [phpName, rackName]) if (read(field) === field) readings.push([read, field])
  // A field that starts with a space or a bracket is read only as written or folded.
  const first = /^[ [\]]/.test(field) ? undefined : foldCase(field.charAt(0)).charAt(0)
  return (name) => {
    if (name === field) return true
    if (first !== undefined && !mayReadAs(name, first)) return false
    for (const [read, wanted] of readings) if (read(name) === wanted) return true
    return false
  }
}

/**
 * Whether a name can be read as a field whose folded first letter is `first`:
 * a quick refusal of nearly every other name, so that a body of a quarter of
 * a million fields (or one field of a megabyte) costs a scan, not a quarter
 * of a million readings. Every reading keeps the name's first letter once
 * PHP's leading spaces and Rack's leading brackets are gone, but for PHP's
 * '_' (from ' ', '.' or '[') and a fold's change of case.
 */
function mayReadAs (name: string, first: string): boolean {
  let i = 0
  for (; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c !== 32 && c !== 91 && c !== 93) break
  }
  if (i === name.length) return false
  const c = name.charAt(i)
  if (first === '_') return c === '_' || c === '.'
  // A lone surrogate folds to itself: compare the whole code point's fold.
  return foldCase(String.fromCodePoint(name.codePointAt(i) as number)).charAt(0) === first || c === first
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

const MAX_RACK_DEPTH = 32

/**
 * A name as Rack 2 nests it (`a[b][c]`); undefined: an array, or nothing Rack
 * names so. Each key is Rack's `\A[\[\]]*([^\[\]]+)\]*`, scanned by hand: the
 * expression backtracks for as long as a run of brackets is (a megabyte of
 * `u[[[[…` would take seconds).
 */
export function rackName (raw: string): string | undefined {
  const keys: string[] = []
  let i = 0
  for (let depth = 0; depth < MAX_RACK_DEPTH; depth++) {
    while (isBracket(raw.charCodeAt(i))) i++
    const start = i
    while (i < raw.length && !isBracket(raw.charCodeAt(i))) i++
    if (i === start) return undefined
    keys.push(raw.slice(start, i))
    while (raw.charCodeAt(i) === 93) i++
    if (i === raw.length) return (keys[0] as string) + keys.slice(1).map((k) => `[${k}]`).join('')
    // `a[` is a key of its own (the whole name); `a[]` an array.
    if (i === raw.length - 1 && raw.charCodeAt(i) === 91) return undefined
    if (raw.startsWith('[]', i)) return undefined
  }
  return undefined
}

function isBracket (c: number): boolean {
  return c === 91 || c === 93
}
