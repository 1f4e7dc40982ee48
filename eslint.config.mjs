// SPDX-License-Identifier: MIT
// ESLint for lib/ (TypeScript, type-aware) and the JavaScript in test/, benchmarks/ and scripts/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'prebuilds/**', '.cache/**', '**/.bin/**'] },
  js.configs.recommended,
  {
    files: ['lib/**/*.ts'],
    extends: [...tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/naming-convention': [
        'error',
        { selector: 'default', format: ['camelCase'], leadingUnderscore: 'allow' },
        { selector: 'variable', format: ['camelCase', 'UPPER_CASE', 'PascalCase'] },
        { selector: 'variable', modifiers: ['destructured'], format: null },
        { selector: 'parameter', format: ['camelCase'], leadingUnderscore: 'allow' },
        { selector: 'typeLike', format: ['PascalCase'] },
        { selector: 'enumMember', format: ['PascalCase'] },
        // Qt's names (AccessMode, ReadOnly, …) as static members, and C constants (O_RDWR, F_OFD_SETLK).
        { selector: ['classProperty', 'objectLiteralProperty', 'typeProperty'], format: null },
        { selector: 'import', format: null },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      '@typescript-eslint/only-throw-error': 'off',
      // Key types and errno values are numbers compared with enum members on purpose.
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      // Qt's key strings percent-encode control characters: the regular expressions name them.
      'no-control-regex': 'off',
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: 'module',
      globals: {
        process: 'readonly', Buffer: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly',
        setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', performance: 'readonly',
        SharedArrayBuffer: 'readonly', Atomics: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly',
        URL: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', DOMException: 'readonly',
        structuredClone: 'readonly', queueMicrotask: 'readonly', globalThis: 'readonly', FinalizationRegistry: 'readonly',
        WeakRef: 'readonly', gc: 'readonly', describe: 'readonly', it: 'readonly', before: 'readonly', after: 'readonly',
        beforeEach: 'readonly', afterEach: 'readonly', Bun: 'readonly', Deno: 'readonly', require: 'readonly', module: 'writable',
        __dirname: 'readonly',
      },
    },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
);
