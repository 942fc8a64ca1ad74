/** The framework presets (their values are in presets.ts). */
export const PRESET_NAMES = ['django', 'rails', 'laravel', 'express-session', 'spring-boot', 'php', 'aspnet-core', 'flask'] as const
export type PresetName = typeof PRESET_NAMES[number]
