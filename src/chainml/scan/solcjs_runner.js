// Compile standard-JSON inputs with one solcjs release; jobs as a JSON array on stdin.
// argv[2]: the directory of an npm release of solc (its soljson.js); argv[3]: a modern solc
// package whose wrapper drives any soljson (old releases lack compile(), only compileStandard).
'use strict';
const path = require('path');
const soljson = require(path.join(process.argv[2], 'soljson.js'));
const wrapper = require(path.join(process.argv[3], 'wrapper.js'));
const solc = wrapper(soljson);
let data = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { data += chunk; });
process.stdin.on('end', () => {
  const jobs = JSON.parse(data);
  const outputs = jobs.map((input) => JSON.parse(solc.compile(JSON.stringify(input))));
  process.stdout.write(JSON.stringify({ version: solc.version(), outputs }));
});
