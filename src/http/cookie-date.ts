/**
 * The `Expires` of a Set-Cookie header, read as browsers read it: RFC 6265
 * §5.1.1's cookie-date algorithm, not `Date.parse`. The two disagree both
 * ways: `Thu, 01-Jan-1970 00:00:01 CET` or `22:50:12 Thu Apr 18 2007 GMT`
 * are dates to a browser and `NaN` to `Date.parse` (a clear the gateway
 * would miss), and `Date.parse` applies zones (`GMT-0400`) that a browser
 * ignores. Returns milliseconds since the epoch, or undefined where a
 * browser ignores the attribute (§5.2.1).
 */
export function parseCookieDate (text: string): number | undefined {
  let time: [number, number, number] | undefined
  let day: number | undefined
  let month: number | undefined
  let year: number | undefined
  // §5.1.1 step 1-2: the date-tokens, each tried as time, day-of-month,
  // month and year, in that order, each kind taken at most once.
  for (const token of dateTokens(text)) {
    if (time === undefined) {
      const t = TIME.exec(token)
      if (t !== null) { time = [Number(t[1]), Number(t[2]), Number(t[3])]; continue }
    }
    if (day === undefined) {
      const d = DAY_OF_MONTH.exec(token)
      if (d !== null) { day = Number(d[1]); continue }
    }
    if (month === undefined) {
      const m = MONTHS.indexOf(token.slice(0, 3).toLowerCase())
      if (m !== -1) { month = m; continue }
    }
    if (year === undefined) {
      const y = YEAR.exec(token)
      if (y !== null) year = Number(y[1])
    }
  }
  if (time === undefined || day === undefined || month === undefined || year === undefined) return undefined
  // Steps 3-4: two-digit years.
  if (year >= 70 && year <= 99) year += 1900
  else if (year >= 0 && year <= 69) year += 2000
  // Step 5.
  const [hour, minute, second] = time
  if (day < 1 || day > 31 || year < 1601 || hour > 23 || minute > 59 || second > 59) return undefined
  // Step 6: a date that does not exist (31 April) fails rather than rolling over.
  const t = Date.UTC(year, month, day, hour, minute, second)
  return new Date(t).getUTCDate() === day ? t : undefined
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']

// The grammar's "1*2DIGIT ( non-digit *OCTET )" and its kin: the digits, then
// the end of the token or anything that starts with a non-digit.
const TIME = /^(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\D|$)/
const DAY_OF_MONTH = /^(\d{1,2})(?:\D|$)/
const YEAR = /^(\d{2,4})(?:\D|$)/

/**
 * §5.1.1's date-tokens: runs of non-delimiters. The delimiters are
 * %x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E, so digits, `:`, letters,
 * controls and everything from %x7F up belong to tokens.
 */
function dateTokens (text: string): string[] {
  const tokens: string[] = []
  let start = -1
  for (let i = 0; i <= text.length; i++) {
    const delimiter = i === text.length || isDelimiter(text.charCodeAt(i))
    if (delimiter && start !== -1) { tokens.push(text.slice(start, i)); start = -1 } else if (!delimiter && start === -1) start = i
  }
  return tokens
}

function isDelimiter (c: number): boolean {
  return c === 0x09 || (c >= 0x20 && c <= 0x2f) || (c >= 0x3b && c <= 0x40) || (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e)
}
