import { cacheSuite } from './cache-suite.js';

cacheSuite('a.test.ts');
