// ESLint for the app's JavaScript (pwa/): `make lint`, and `make test` before pytest.
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['node_modules/', '.venv/', 'bench/node_modules/', 'instance/'] },
  js.configs.recommended,
  {
    files: ['pwa/**/*.js'],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { ...globals.browser },
    },
    rules: {
      'max-len': ['error', { code: 100, ignoreUrls: true }],
      'max-lines-per-function': ['error', { max: 60, IIFEs: true }],
      'no-unused-vars': ['error', { varsIgnorePattern: '^_', argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['pwa/sw.js'],
    languageOptions: { sourceType: 'script', globals: { ...globals.serviceworker } },
  },
  {
    // The layers (README, Layout): a screen never imports another screen or the shell.
    files: ['pwa/js/views/**/*.js'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['./*', '../views/*'], message: 'A view never imports another view: '
          + 'move the shared piece to components/.' },
        { group: ['../app.js'], message: 'Views get what they need from the shell in '
          + 'their context argument.' },
        { group: ['../store/*'], message: 'Views use storage through db.js.' },
      ] }],
    },
  },
  {
    files: ['pwa/js/components/**/*.js'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['../views/*', '../app.js'], message: 'Components never import screens.' },
      ] }],
    },
  },
  {
    files: ['pwa/js/ui.js', 'pwa/js/i18n.js', 'pwa/js/validate.js'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['./db.js', './store/*', './sync-client.js', './components/*', './views/*'],
          message: 'DOM helpers and words know nothing of storage, sync or screens.' },
      ] }],
    },
  },
  {
    files: ['pwa/js/store/**/*.js', 'pwa/js/db.js', 'pwa/js/sync-client.js'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/views/*', '**/components/*', '**/ui.js', '**/app.js', '**/i18n.js'],
          message: 'Storage and sync know nothing of screens.' },
      ] }],
    },
  },
];
