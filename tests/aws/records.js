#!/usr/bin/env node
'use strict'
// records.js - turns one answer of `aws kinesis get-records --output json`
// into lines a shell test can compare.
//
//   node records.js tsv|raw|agg ANSWER.json OUT
//
// appends the records of ANSWER to OUT, each as one line
// "PARTITIONKEY<TAB>DATA" with DATA a JSON string (tsv), or the decoded
// data bytes as they are (raw), or, for agg, the user records of each as
// the KCL reads them (KPL aggregated records de-aggregated by the npm
// aws-kinesis-agg, checksums checked; plain records as they are), a
// "PARTITIONKEY<TAB>DATA" line each; then prints "COUNT NEXTITERATOR" on
// stdout, COUNT the Kinesis records (NEXTITERATOR is "-" once the shard
// is closed and read to its end).

const fs = require('fs')

const [format, answerFile, out] = process.argv.slice(2)
if (!['tsv', 'raw', 'agg'].includes(format) || !answerFile || !out) {
  process.stderr.write('usage: records.js tsv|raw|agg ANSWER.json OUT\n')
  process.exit(2)
}
const answer = JSON.parse(fs.readFileSync(answerFile, 'utf8'))
const line = (key, data) => Buffer.from(`${key}\t${JSON.stringify(data.toString('utf8'))}\n`)
const parts = answer.Records.map((r) => {
  const data = Buffer.from(r.Data, 'base64')
  if (format === 'agg') {
    const users = []
    require('aws-kinesis-agg').deaggregateSync({ data: r.Data, partitionKey: r.PartitionKey }, true, (err, recs) => {
      if (err) throw err
      for (const u of recs) users.push(line(u.partitionKey, Buffer.from(u.data, 'base64')))
    })
    return Buffer.concat(users)
  }
  return format === 'raw' ? data : line(r.PartitionKey, data)
})
fs.appendFileSync(out, Buffer.concat(parts))
process.stdout.write(`${answer.Records.length} ${answer.NextShardIterator || '-'}\n`)
