// Jest runs in ESM mode (package.json "type": "module"; scripts pass --experimental-vm-modules).
// @swc/jest strips types and keeps ESM; imports keep their .ts extensions as Node 24 runs them.
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } }],
};
const common = { transform, extensionsToTreatAsEsm: ['.ts'], testEnvironment: 'node' };

export default {
  // Integration tests wait for real SMTP retries; the per-project setting is not honoured by jest.
  testTimeout: 60000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
      testTimeout: 60000,
    },
    {
      ...common,
      displayName: 'browser',
      testMatch: ['<rootDir>/test/browser/**/*.test.ts'],
      // The same database set-up as integration (it runs once when both projects run).
      globalSetup: '<rootDir>/test/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
      testTimeout: 60000,
    },
  ],
};
