// The Jest preset behind `preset: 'kubecache'` (re-exported by ../jest-preset.js).
// Absolute paths, so the preset works whatever the project's rootDir is.
const { join } = require('node:path');

const dist = join(__dirname, '..', 'dist');

module.exports = {
  // Runs in Jest's main process: starts the broker that owns the cache pods.
  globalSetup: join(dist, 'jest', 'global-setup.js'),
  // Deletes the run's pods once every test file is done.
  globalTeardown: join(dist, 'jest', 'global-teardown.js'),
  // jest-environment-node plus cache pod names and logs on failing tests.
  // CommonJS, because Jest's workers load it outside any ESM loader.
  testEnvironment: join(dist, 'cjs', 'jest', 'environment.js'),
};
