const { suite } = require('./suite.js');

suite('b.test.js');
