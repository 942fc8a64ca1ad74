import { isIPv4, isIPv6 } from 'node:net'
import UAParser from 'ua-parser-js'
import { LRUCache } from 'lru-cache'
import type { SessionMeta } from '../domain/session.js'

/** Longest device description kept: a User-Agent is client input, and records are many. */
const MAX_DEVICE = 100
/** A User-Agent longer than this is not parsed (the parser's regular expressions then cost more than they tell). */
const MAX_UA = 512

export type IpDisplay = 'approximate' | 'full' | 'hidden'

/**
 * What a session's user is shown about the device it signed in from:
 * browser, system and, for phones and tablets, the model, as in
 * "Chrome 131 on Android 14 (Google Pixel 7)". Read with ua-parser-js (its
 * 1.x line, MIT-licensed). A client that is not a browser shows its first
 * product token ("curl/8.5.0"); nothing known shows nothing.
 */
export function describeDevice (userAgent: string | undefined): string | undefined {
  if (userAgent === undefined || userAgent.trim() === '') return undefined
  const ua = userAgent.slice(0, MAX_UA)
  // Most logins come from a few hundred User-Agents: parsing is the slow part
  // of a login's bookkeeping, and every session of one browser then shares
  // one description string instead of holding its own.
  const known = DESCRIBED.get(ua)
  if (known !== undefined) return known === '' ? undefined : known
  const described = parseDevice(ua)
  DESCRIBED.set(ua, described ?? '')
  return described
}

/** User-Agent → description, for the User-Agents seen most recently (not a secret: a browser's name). */
const DESCRIBED = new LRUCache<string, string>({ max: 2000 })

function parseDevice (ua: string): string | undefined {
  const { browser, os, device } = new UAParser(ua).getResult()
  const parts: string[] = []
  if (browser.name !== undefined) parts.push(browser.major === undefined ? browser.name : `${browser.name} ${browser.major}`)
  if (os.name !== undefined) parts.push(`${parts.length > 0 ? 'on ' : ''}${os.version === undefined ? os.name : `${os.name} ${os.version}`}`)
  const model = [device.vendor, device.model].filter((v) => v !== undefined).join(' ')
  if (model !== '' && (device.type === 'mobile' || device.type === 'tablet')) parts.push(`(${model})`)
  const text = parts.length > 0 ? parts.join(' ') : (/^[\x21-\x7e]+/.exec(ua)?.[0] ?? '')
  const clean = text.replace(/[\p{Cc}\p{Cf}]/gu, '').trim()
  return clean === '' ? undefined : clean.slice(0, MAX_DEVICE)
}

/**
 * The address as the user is shown it. `approximate` (the default) keeps
 * what says roughly where a device is and drops what identifies one
 * household: the last byte of an IPv4 address (203.0.113.x), everything
 * after the /48 of an IPv6 one (2001:db8:85a3::/48). Only this form is
 * stored.
 */
export function displayIp (address: string | undefined, mode: IpDisplay): string | undefined {
  if (address === undefined || mode === 'hidden') return undefined
  const ip = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address
  if (mode === 'full') return isIPv4(ip) || isIPv6(ip) ? ip : undefined
  if (isIPv4(ip)) return `${ip.slice(0, ip.lastIndexOf('.'))}.x`
  if (isIPv6(ip)) {
    const head = expandIPv6(ip).slice(0, 3).map((g) => g.replace(/^0+(?=.)/, '')).join(':')
    return head === '0:0:0' ? '::/48' : `${head}::/48`
  }
  return undefined
}

/** The eight groups of an IPv6 address (an embedded IPv4 tail counts as two). */
function expandIPv6 (ip: string): string[] {
  const [head = '', tail] = ip.split('::')
  const groups = (s: string): string[] => s === '' ? [] : s.split(':').flatMap((g) => isIPv4(g) ? v4Groups(g) : [g])
  const left = groups(head)
  const right = tail === undefined ? [] : groups(tail)
  return [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
}

function v4Groups (v4: string): string[] {
  const b = v4.split('.').map(Number)
  return [((b[0] ?? 0) * 256 + (b[1] ?? 0)).toString(16), ((b[2] ?? 0) * 256 + (b[3] ?? 0)).toString(16)]
}

/**
 * One string per shown address for the sessions that share it (many do:
 * `approximate` keeps a /24 or a /48), instead of one built per login:
 * ~30 bytes per tracked session.
 */
function sharedIp (ip: string | undefined): string | undefined {
  if (ip === undefined) return undefined
  const known = SHOWN_IPS.get(ip)
  if (known !== undefined) return known
  SHOWN_IPS.set(ip, ip)
  return ip
}
const SHOWN_IPS = new LRUCache<string, string>({ max: 2000 })

/** What is kept with a new session about where it came from. */
export function sessionMeta (userAgent: string | undefined, address: string | undefined, mode: IpDisplay): SessionMeta {
  const meta: SessionMeta = {}
  const device = describeDevice(userAgent)
  const ip = sharedIp(displayIp(address, mode))
  if (device !== undefined) meta.device = device
  if (ip !== undefined) meta.ip = ip
  return meta
}
