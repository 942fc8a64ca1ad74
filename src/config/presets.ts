import type { PresetName } from './preset-names.js'

export { PRESET_NAMES, type PresetName } from './preset-names.js'

/**
 * What a preset writes for the user: the session cookie, the framework's
 * standard login and logout routes, the success rule of its standard login,
 * and where an ended session is sent. Written as YAML would be (durations as
 * strings); anything the user's file says wins (see mergePreset).
 *
 * `checked` is what the preset was checked against: `proven` presets run in
 * the test suite against the real framework; the others follow the
 * framework's documented defaults.
 */
export interface Preset {
  checked: string
  proven: boolean
  values: Record<string, unknown>
  /** Keys the preset cannot fill in, by key path, with what to write there (said when one is missing). */
  required?: Record<string, string>
  /**
   * Why this framework needs a `whoami` (an endpoint of the app's own, which
   * a preset cannot name) and `login: auto` to be safe: shown by
   * `sessioncap presets NAME`, and warned about by `check` and at start
   * when the file lacks them (see presetAdvice).
   */
  needsWhoami?: string
}

/**
 * What the file lacks that its preset says it needs to be safe: one
 * sentence per missing piece, or none.
 */
export function presetAdvice (config: { preset?: PresetName, whoami?: unknown, login: { auto: boolean }, unknownSessions: string }): string[] {
  const why = config.preset === undefined ? undefined : PRESETS[config.preset].needsWhoami
  if (why === undefined) return []
  if (config.whoami === undefined) return [`preset: ${String(config.preset)} needs a whoami and login: auto to be safe: ${why}`]
  if (!config.login.auto && config.unknownSessions !== 'adopt') return [`preset: ${String(config.preset)}: with a whoami, also set login: auto (or unknownSessions: adopt), or remember-me sign-ins are not counted: ${why}`]
  return []
}

export const PRESETS: Record<PresetName, Preset> = {
  django: {
    checked: 'Django 3.2 (Debian 12 python3-django); the same routes in Django 4 and 5',
    proven: true,
    values: {
      session: { cookie: 'sessionid' },
      login: [
        // A failed login re-renders the form (200); a successful one redirects.
        { method: 'POST', path: '/admin/login/', user: { form: 'username' }, status: [302] },
        { method: 'POST', path: '/accounts/login/', user: { form: 'username' }, status: [302] }
      ],
      logout: [{ path: '/admin/logout/' }, { path: '/accounts/logout/' }],
    }
  },
  'express-session': {
    checked: 'express 5.3 + express-session 1.19 + passport 0.7 + passport-local 1.0',
    proven: true,
    values: {
      session: { cookie: 'connect.sid' },
      login: [
        // Form logins redirect (a failed one back to /login); JSON logins answer 200.
        { method: 'POST', path: '/login', user: { form: 'username' }, failureRedirect: '/login' }
      ],
      logout: [{ path: '/logout' }],
    }
  },
  php: {
    checked: 'PHP 8.2 built-in sessions (Debian 12 php-cli), a login.php calling session_regenerate_id()',
    proven: true,
    values: {
      session: { cookie: 'PHPSESSID' },
      // A failed login either redirects back to the form or shows it again (200): only a redirect elsewhere is a success.
      login: [{ method: 'POST', path: '/login.php', user: { form: 'username' }, status: [302, 303], failureRedirect: '/login.php' }],
      logout: [{ path: '/logout.php' }],
    }
  },
  rails: {
    checked: 'Rails 6.1.7 with Devise 4.8.1 (Debian 12 ruby-rails, ruby-devise), Rails\' default cookie store. Set session.cookie: Rails names it _<app>_session',
    proven: true,
    values: {
      // Devise redirects a sign-in (302; 303 with a responder set up for Turbo) and shows a failed one again
      // (200, with a new session cookie); a failure app that redirects it (a common Turbo fix) goes back to the form.
      // Devise answers a signed-in browser's sign-in with the same redirect whoever the form names, and
      // "Remember me" signs a browser in on any page: add a whoami (see docs/presets.md).
      login: [{ method: 'POST', path: '/users/sign_in', user: { form: 'user[email]' }, status: [302, 303], failureRedirect: '/users/sign_in', caseInsensitive: true }],
      logout: [{ path: '/users/sign_out' }],
      session: { alsoClear: ['remember_user_token'] },
    },
    required: {
      'session.cookie': 'Rails names its session cookie after the app, _<app>_session (e.g. session: { cookie: _myshop_session }); your browser shows it after you sign in'
    },
    needsWhoami: 'Devise answers a signed-in user who posts another user\'s e-mail with the same redirect as a sign-in (which would end that user\'s session), and remember_user_token signs a browser in on any page; e.g. whoami: { path: /api/me, json: /user } (docs/presets.md)'
  },
  laravel: {
    checked: 'Laravel 8.83.26 (Debian 12 php-laravel-framework, PHP 8.2): Breeze\'s login controller, file sessions, remember me. Confirm logins with a whoami',
    proven: true,
    values: {
      // remember_<guard>_<sha1 of Illuminate\Auth\SessionGuard>: the `web` guard's remember-me cookie, the same name since Laravel 5.4.
      session: { cookie: 'laravel_session', alsoClear: ['remember_web_59ba36addc2b2f9401580f014c7f58ea4e30989d'] },
      // A failed login redirects back to its Referer with a new (re-encrypted) cookie: only a whoami tells it from a success.
      login: [{ method: 'POST', path: '/login', user: { form: 'email' }, failureRedirect: '/login', caseInsensitive: true }],
      logout: [{ method: 'POST', path: '/logout' }],
    },
    needsWhoami: 'a failed login redirects back to the Referer the client sends, with a new cookie, so it can look like a success, and remember-me signs a browser in on any page; e.g. whoami: { path: /api/me, json: /user } (docs/presets.md)'
  },
  'spring-boot': {
    checked: 'Spring Boot 3 with Spring Security form login (documented defaults; not run here)',
    proven: false,
    values: {
      session: { cookie: 'JSESSIONID', alsoClear: ['remember-me'] },
      login: [{ method: 'POST', path: '/login', user: { form: 'username' }, failureRedirect: '/login' }],
      logout: [{ method: 'POST', path: '/logout' }],
    }
  },
  'aspnet-core': {
    checked: 'ASP.NET Core 8 Identity UI (documented defaults; not run here)',
    proven: false,
    values: {
      session: { cookie: '.AspNetCore.Identity.Application' },
      login: [{ method: 'POST', path: '/Identity/Account/Login', user: { form: 'Input.Email' }, status: [302], caseInsensitive: true }],
      logout: [{ method: 'POST', path: '/Identity/Account/Logout' }],
    }
  },
  flask: {
    checked: 'Flask 2.2.2 + Flask-Login 0.6.2 + Flask-WTF 1.1.1 (Debian 12 python3-flask, python3-flask-login, python3-flaskext.wtf). Flask\'s default session is a signed cookie the app cannot revoke',
    proven: true,
    values: {
      // Flask-Login's remember-me cookie signs the user back in with a new session on any page: cleared with an ended session.
      session: { cookie: 'session', alsoClear: ['remember_token'] },
      // login_user() then redirect() (302); a failure flashes its message and redirects back to the
      // form, and the flash sets a new session cookie too: only the redirect's target tells them apart.
      // A form shown again with 200 (a flash in the same answer also sets the cookie) is never a success.
      login: [{ method: 'POST', path: '/login', user: { form: 'username' }, status: [302, 303], failureRedirect: '/login' }],
      logout: [{ path: '/logout' }],
    },
    needsWhoami: 'remember_token signs a browser in on any page, and a real login steered to redirect to /login (?next=/login) looks like a failure; e.g. whoami: { path: /api/me, json: /user } (docs/presets.md)'
  }
}

/**
 * The file's own values over the preset's: top-level keys the file sets win;
 * mappings (session, ended, store…) are merged one level deep, so
 * `session: { alsoClear: [x] }` keeps the preset's cookie; lists are replaced
 * whole (a file's `login:` replaces the preset's routes).
 */
export function mergePreset (preset: Preset, file: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(preset.values)
  for (const [key, value] of Object.entries(file)) {
    const base = out[key]
    if (key === 'login' && Array.isArray(base) && (value === 'auto' || (isMapping(value) && value.routes === undefined))) {
      // `login: auto` (or { auto: true }) adds to the preset's routes rather than dropping them.
      out[key] = { ...(isMapping(value) ? value : { auto: true }), routes: base }
      continue
    }
    out[key] = isMapping(base) && isMapping(value) ? { ...base, ...value } : value
  }
  return out
}

function isMapping (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}
