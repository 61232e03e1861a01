module.exports = {
  preset: 'kubecache',
  testMatch: ['<rootDir>/test/**/*.test.js'],
  maxWorkers: 4,
  testTimeout: 60000,
  // Kept inside the project so the driver can clear Jest's timing cache,
  // which would otherwise let Jest run a fast suite in band, in one worker.
  cacheDirectory: '<rootDir>/node_modules/.cache/jest',
};
