#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Writes the generated sections of the C and Python clients from the library's single
// definitions: the header layout (lib/format.ts, through cHeaderText() for C), Qt's error
// enum and the errno → Qt error mapping (lib/errors.ts). Needs the built package (dist/).
//
//   node clients/generate.mjs           rewrite clients/c/qshm.h and clients/python/qshm.py
//   node clients/generate.mjs --check   exit 1 if either file differs from what it would write
//
// test/clients.test.mjs runs the check, so an edit to lib/format.ts or lib/errors.ts that is
// not regenerated here fails the suite.
import { readFileSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Layout, MAGIC, SharedMemoryError, cHeaderText } from '../dist/index.js';
import { MAX_GENERATION } from '../dist/format.js';
import { qtErrorFor } from '../dist/errors.js';

const here = dirname(fileURLToPath(import.meta.url));
export const C_FILE = join(here, 'c', 'qshm.h');
export const PY_FILE = join(here, 'python', 'qshm.py');

/** Qt's SharedMemoryError names in numeric order: ['NoError', 'PermissionDenied', …]. */
function qtErrorNames() {
  const names = [];
  for (const [name, v] of Object.entries(SharedMemoryError)) if (typeof v === 'number') names[v] = name;
  return names;
}

/** errno name → [Qt error number, Qt's text], for every errno that does not map to UnknownError. */
function errnoTable() {
  const rows = [];
  const seen = new Set();
  for (const [name, num] of Object.entries(constants.errno)) {
    if (seen.has(num)) continue;
    seen.add(num);
    const [qt, text] = qtErrorFor(-num);
    if (qt !== SharedMemoryError.UnknownError) rows.push([name, qt, text]);
  }
  return rows.sort((a, b) => a[0].localeCompare(b[0]));
}

const snake = (camel) => camel.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();

/** The generated blocks, by file and block name. */
export function generatedBlocks() {
  const names = qtErrorNames();
  const errnos = errnoTable();
  const cLayout = [
    cHeaderText().trimEnd(),
    '',
    '/* Qt\'s QSharedMemory::SharedMemoryError, with Qt\'s numbering. */',
    'enum qshm_error {',
    ...names.map((n, i) => `  QSHM_${snake(n)} = ${i},`),
    '};',
    '',
  ].join('\n');
  const cErrors = [
    '/* errno -> Qt error and Qt\'s text (lib/errors.ts qtErrorFor); anything else is UnknownError. */',
    'static int qshm__qt_error_for(int e, const char **text) {',
    '  switch (e) {',
    ...errnos.flatMap(([n, qt, text]) => [`#ifdef ${n}`, `    case ${n}: *text = ${JSON.stringify(text)}; return ${qt};`, '#endif']),
    '    default: *text = 0; return QSHM_UNKNOWN_ERROR;',
    '  }',
    '}',
    '',
    'static const char *const qshm__error_names[] = {',
    ...names.map((n) => `  ${JSON.stringify(n)},`),
    '};',
    '',
  ].join('\n');
  const magic = [...MAGIC].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
  const py = [
    '# Header layout (lib/format.ts).',
    `MAGIC = b"${magic}"`,
    ...Object.entries(Layout).map(([k, v]) => `${k} = ${v}`),
    `MAX_GENERATION = ${MAX_GENERATION}`,
    '',
    "# Qt's QSharedMemory::SharedMemoryError names, indexed by Qt's numbers (lib/errors.ts).",
    `ERROR_NAMES = (${names.map((n) => JSON.stringify(n)).join(', ')})`,
    '',
    "# errno -> (Qt error number, Qt's text) (lib/errors.ts qtErrorFor); anything else is UnknownError.",
    '_QT_ERRORS = {',
    ...errnos.map(([n, qt, text]) => `    "${n}": (${qt}, ${JSON.stringify(text)}),`),
    '}',
    '',
  ].join('\n');
  return { [C_FILE]: { layout: cLayout, errors: cErrors }, [PY_FILE]: { layout: py } };
}

const markers = (file, name) => (file.endsWith('.py')
  ? [`# BEGIN GENERATED ${name} (clients/generate.mjs; do not edit)\n`, `# END GENERATED ${name}\n`]
  : [`/* BEGIN GENERATED ${name} (clients/generate.mjs; do not edit) */\n`, `/* END GENERATED ${name} */\n`]);

/** The file's text with its generated blocks replaced by `blocks`. */
export function regenerate(file, text, blocks) {
  for (const [name, body] of Object.entries(blocks)) {
    const [begin, end] = markers(file, name);
    const a = text.indexOf(begin);
    const b = text.indexOf(end);
    if (a < 0 || b < a) throw new Error(`${file}: markers for the generated block "${name}" are missing`);
    text = text.slice(0, a + begin.length) + body + text.slice(b);
  }
  return text;
}

/** Files whose generated blocks are out of date. */
export function staleFiles() {
  const stale = [];
  for (const [file, blocks] of Object.entries(generatedBlocks())) {
    const text = readFileSync(file, 'utf8');
    if (regenerate(file, text, blocks) !== text) stale.push(file);
  }
  return stale;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const stale = staleFiles();
    for (const f of stale) console.error(`${f}: generated section is out of date; run node clients/generate.mjs`);
    process.exit(stale.length ? 1 : 0);
  }
  for (const [file, blocks] of Object.entries(generatedBlocks())) {
    writeFileSync(file, regenerate(file, readFileSync(file, 'utf8'), blocks));
  }
}
