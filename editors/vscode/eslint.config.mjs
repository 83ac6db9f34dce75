// @ts-check
// The extension's lint (`npm run lint`, run by `npm test` and so by scripts/test.sh). Typed rules,
// because the bugs a VS Code extension meets are a promise nobody awaits and an `any` from a
// server's answer used as if it had been checked; tsconfig's strict mode covers the rest.
import eslint from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['out/', '.e2e/', 'node_modules/', 'test/'] },
  {
    files: ['src/**/*.ts'],
    extends: [eslint.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
  },
);
