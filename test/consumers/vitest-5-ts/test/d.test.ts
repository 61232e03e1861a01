import { fixtureSuite } from './fixture-suite.js';

fixtureSuite('d.test.ts');
