/**
 * The exit codes of every `sessioncap` command, in one place so the docs
 * and the scripts that call the CLI can rely on them.
 */
export const EXIT_OK = 0
/** Failed while running; for an admin command: the admin API answered with an error (nothing ended, wrong token…). */
export const EXIT_RUNTIME = 1
/** The configuration file or the command line is wrong: nothing was done. */
export const EXIT_CONFIG = 2
/**
 * An admin command could not reach the admin API at all (refused, unknown
 * host, no answer in time). Apart from 1 so a script can tell "the gateway
 * said no" from "the gateway is down or the URL is wrong".
 */
export const EXIT_UNREACHABLE = 3
