import { suite } from './suite.js';

suite('b.test.js');
