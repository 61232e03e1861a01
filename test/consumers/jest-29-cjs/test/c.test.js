const { suite } = require('./suite.js');

suite('c.test.js');
