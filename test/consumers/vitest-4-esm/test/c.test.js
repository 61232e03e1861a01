import { suite } from './suite.js';

suite('c.test.js');
