import { cacheSuite } from './cache-suite.js';

cacheSuite('b.test.ts');
