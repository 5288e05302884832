#!/usr/bin/env node
'use strict'
// records.js - turns one answer of `aws kinesis get-records --output json`
// into lines a shell test can compare.
//
//   node records.js tsv|raw ANSWER.json OUT
//
// appends the records of ANSWER to OUT, each as one line
// "PARTITIONKEY<TAB>DATA" with DATA a JSON string (tsv), or the decoded
// data bytes as they are (raw); then prints "COUNT NEXTITERATOR" on stdout
// (NEXTITERATOR is "-" once the shard is closed and read to its end).

const fs = require('fs')

const [format, answerFile, out] = process.argv.slice(2)
if (!['tsv', 'raw'].includes(format) || !answerFile || !out) {
  process.stderr.write('usage: records.js tsv|raw ANSWER.json OUT\n')
  process.exit(2)
}
const answer = JSON.parse(fs.readFileSync(answerFile, 'utf8'))
const parts = answer.Records.map((r) => {
  const data = Buffer.from(r.Data, 'base64')
  return format === 'raw' ? data : Buffer.from(`${r.PartitionKey}\t${JSON.stringify(data.toString('utf8'))}\n`)
})
fs.appendFileSync(out, Buffer.concat(parts))
process.stdout.write(`${answer.Records.length} ${answer.NextShardIterator || '-'}\n`)
