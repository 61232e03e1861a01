import { fixtureSuite } from './fixture-suite.js';

fixtureSuite('c.test.ts');
