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
    checked: 'Rails 7 with Devise 4 (documented defaults; not run here). Set session.cookie: Rails names it _<app>_session',
    proven: false,
    values: {
      login: [{ method: 'POST', path: '/users/sign_in', user: { form: 'user[email]' }, status: [302, 303], caseInsensitive: true }],
      logout: [{ path: '/users/sign_out' }],
      session: { alsoClear: ['remember_user_token'] },
    },
    required: {
      'session.cookie': 'Rails names its session cookie after the app, _<app>_session (e.g. session: { cookie: _myshop_session }); your browser shows it after you sign in'
    }
  },
  laravel: {
    checked: 'Laravel 11 with Breeze/Fortify (documented defaults; not run here)',
    proven: false,
    values: {
      session: { cookie: 'laravel_session' },
      login: [{ method: 'POST', path: '/login', user: { form: 'email' }, failureRedirect: '/login', caseInsensitive: true }],
      logout: [{ method: 'POST', path: '/logout' }],
    }
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
    checked: 'Flask 3 with Flask-Login (documented defaults; not run here). Flask\'s default session is a signed cookie the app cannot revoke',
    proven: false,
    values: {
      session: { cookie: 'session', alsoClear: ['remember_token'] },
      login: [{ method: 'POST', path: '/login', user: { form: 'username' }, failureRedirect: '/login' }],
      logout: [{ path: '/logout' }],
    }
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
