const { suite } = require('./suite.js');

suite('d.test.js');
