import globals from 'globals';
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import regexp from 'eslint-plugin-regexp';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'src/graphql/__generated__/', 'load/node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // api and worker read what users send: no pattern may take super-linear time on it.
    files: ['src/**/*.ts', 'worker/**/*.ts'],
    ...regexp.configs.recommended,
    rules: {
      ...regexp.configs.recommended.rules,
      'regexp/no-super-linear-backtracking': 'error',
      'regexp/no-super-linear-move': 'error',
    },
  },
  {
    files: ['test/**/*.ts', 'load/**/*.{ts,js}'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    // Operator scripts in load/: plain Node ESM whose output is the point.
    files: ['load/**/*.mjs'],
    // WebSocket: Node 20's, behind --experimental-websocket (the replay script turns it on).
    languageOptions: { sourceType: 'module', globals: { ...globals.node, WebSocket: 'readonly' } },
    rules: { 'no-console': 'off' },
  },
  {
    // Node scripts of our own (make dev, the widget build) and test stand-in processes.
    files: ['scripts/**/*.mjs', 'test/fixtures/**/*.mjs'],
    languageOptions: { sourceType: 'module', globals: globals.node },
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { module: 'writable', require: 'readonly', process: 'readonly', __dirname: 'readonly' },
    },
  },
  prettier,
);
