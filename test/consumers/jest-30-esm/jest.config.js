// Run with node --experimental-vm-modules: the tests are ES modules.
const mode = process.env.KUBECACHE_CONSUMER_MODE;

export default {
  preset: 'kubecache',
  transform: {},
  testMatch: mode ? [`<rootDir>/special/${mode}.test.js`] : ['<rootDir>/test/**/*.test.js'],
  maxWorkers: 4,
  testTimeout: 60000,
  cacheDirectory: '<rootDir>/node_modules/.cache/jest',
  // Runner options instead of a kubecache.config file; relative paths start at rootDir.
  testEnvironmentOptions: {
    kubecache: {
      seeds: { redis: './fixtures/basic.rdb', memcached: './fixtures/memcached.json' },
      endpoint: 'auto',
    },
  },
};
