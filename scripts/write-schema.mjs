#!/usr/bin/env node
// npm run schema: writes config/sessioncap.schema.json, the editor schema
// (src/config/editor-schema.ts) with the configuration reference's sentences
// (docs/configuration.md) as descriptions. test/editor-schema.test.ts fails
// when the file is out of date.
import { readFileSync, writeFileSync } from 'node:fs'
import { editorSchema, referenceSentences } from '../dist/config/editor-schema.js'

const root = new URL('../', import.meta.url)
const schema = editorSchema(referenceSentences(readFileSync(new URL('docs/configuration.md', root), 'utf8')))
writeFileSync(new URL('config/sessioncap.schema.json', root), JSON.stringify(schema, null, 2) + '\n')
process.stdout.write('config/sessioncap.schema.json written\n')
