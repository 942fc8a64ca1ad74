// jshttp/cookie 0.6 (the `cookie-0.6` devDependency alias) ships no types; only `parse` is used, by the differential tests.
declare module 'cookie-0.6' {
  export function parse (str: string, options?: { decode?: (value: string) => string }): Record<string, string>
}
