import t from 'tap'
import { MemoryGuardStore } from '../../src/guard/memory-guard.js'
import { guardRules } from '../../src/guard/rules.js'
import { guardContract, guardConfig, T0 } from './contract.js'

guardContract(t, 'memory', async () => new MemoryGuardStore({ maxKeys: 100_000 }))
