// One lint config for every runtime: typescript-eslint's recommended rules on all TypeScript, the
// Svelte plugin on the components; Prettier owns formatting (npm run format), so no style rules here.
import js from '@eslint/js';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';
import ts from 'typescript-eslint';

export default ts.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      '.wrangler/',
      'test-results/',
      'public/data/',
      'edge/worker-configuration.d.ts',
    ],
  },
  js.configs.recommended,
  ...ts.configs.recommended,
  ...svelte.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
    rules: {
      // Unused names are errors, but `_` marks one kept on purpose (a positional parameter).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: ts.parser } },
  },
  // TypeScript checks names itself (typescript-eslint's advice), and declaring a global takes `var`.
  { files: ['**/*.ts', '**/*.svelte'], rules: { 'no-undef': 'off' } },
  { files: ['**/*.d.ts'], rules: { 'no-var': 'off' } },
);
