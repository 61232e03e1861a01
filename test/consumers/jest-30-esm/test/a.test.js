import { suite } from './suite.js';

suite('a.test.js');
