import { suite } from './suite.js';

suite('d.test.js');
