const shared = {
  testEnvironment: 'node',
  rootDir: __dirname,
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': ['@swc/jest'] },
};

/**
 * Two projects: `npx jest` runs both; `npx jest --selectProjects unit` (make unit) runs the
 * pure-logic tests without touching PostgreSQL or Redis. Jest runs a project's global setup
 * only when at least one of its test files is selected.
 *
 * @type {import('jest').Config}
 */
module.exports = {
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts', '<rootDir>/test/browser/**/*.test.ts'],
      // Migrates this run's template database, which every test file clones its own from.
      globalSetup: '<rootDir>/test/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
    },
  ],
  // Integration tests share two cores with PostgreSQL; two workers keep them from starving each other.
  maxWorkers: 2,
  // Read from the top level (jest's global config), so it applies to both projects.
  testTimeout: 30_000,
};
