// Lets Node run the TypeScript sources and tests directly (its own type
// stripping; tsconfig's erasableSyntaxOnly keeps the code strippable), in
// place of ts-node, which compiled every module of every test process again
// (~4 s of CPU per test file). TypeScript's imports name the compiled `.js`;
// here they resolve to the `.ts` beside them.
import { registerHooks } from 'node:module'

registerHooks({
  resolve (specifier, context, nextResolve) {
    if (specifier.endsWith('.js') && (specifier.startsWith('./') || specifier.startsWith('../')) && context.parentURL?.endsWith('.ts') === true) {
      try {
        return nextResolve(`${specifier.slice(0, -3)}.ts`, context)
      } catch {
        // A real .js file next to the module: resolved as it is, below.
      }
    }
    return nextResolve(specifier, context)
  }
})
