import { rawRequest, type RawAnswer } from './raw.js'

/**
 * Bytes of a Cookie header written piece by piece: strings are Latin-1 (one
 * byte per character, so '\x85' is the single byte 0x85), `utf8(…)` pieces are
 * UTF-8 (so U+3000 is E3 80 80). Node's fetch and undici refuse such bytes in
 * a header; a raw socket sends them.
 */
export function bytes (...pieces: Array<string | Buffer>): Buffer {
  return Buffer.concat(pieces.map((p) => typeof p === 'string' ? Buffer.from(p, 'latin1') : p))
}

export function utf8 (text: string): Buffer {
  return Buffer.from(text, 'utf8')
}

/** GET `path` with this Cookie header (exact bytes), as an API client (JSON answers). */
export async function getWithCookie (base: string, path: string, cookie: Buffer | undefined): Promise<RawAnswer> {
  const head = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\nConnection: close\r\n`
  return await rawRequest(base, bytes(head, ...(cookie === undefined ? [] : ['Cookie: ', cookie, '\r\n']), '\r\n'))
}
