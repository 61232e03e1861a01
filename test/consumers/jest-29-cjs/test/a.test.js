const { suite } = require('./suite.js');

suite('a.test.js');
