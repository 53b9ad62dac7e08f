// Validates a HAR file with npm's har-validator (installed by scripts/test-deps.sh):
//   node validate_har.js VALIDATOR_DIR FILE
// Prints "valid N" (N entries) and exits 0, or prints the schema errors and exits 1.
'use strict'
const path = require('path')
const fs = require('fs')
const validator = require(path.join(process.argv[2], 'node_modules', 'har-validator'))
const har = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'))
validator.har(har).then(
  () => console.log('valid ' + har.log.entries.length),
  (e) => {
    console.error(JSON.stringify(e.errors || String(e), null, 1))
    process.exit(1)
  }
)
