#!/usr/bin/env node
'use strict'
// put-every.js - puts records straight to a Kinesis endpoint (kinesalite on
// loopback), as another client of the stream would: COUNT records
// "ext I MS\n" (MS: the time of the put, ms since the epoch) with
// partition key KEY, one every INTERVAL ms, each after the last is
// acknowledged.
//
//   node put-every.js URL STREAM KEY COUNT INTERVAL

const http = require('http')

const [urlArg, stream, key, countArg, intervalArg] = process.argv.slice(2)
if (!urlArg || !stream || !key || !countArg || !intervalArg) {
  process.stderr.write('usage: put-every.js URL STREAM KEY COUNT INTERVAL\n')
  process.exit(2)
}
const url = new URL(urlArg)
const count = Number(countArg)
const interval = Number(intervalArg)
let i = 0
function put() {
  if (++i > count) return
  const body = JSON.stringify({ StreamName: stream, PartitionKey: key,
    Data: Buffer.from(`ext ${i} ${Date.now()}\n`).toString('base64') })
  const req = http.request({ host: url.hostname, port: url.port, method: 'POST', path: '/',
    headers: { 'Content-Type': 'application/x-amz-json-1.1',
      'X-Amz-Target': 'Kinesis_20131202.PutRecord',
      Authorization: 'AWS4-HMAC-SHA256 Credential=AKIAKFSTEST000000001/20200101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0',
      'X-Amz-Date': '20200101T000000Z' } }, (res) => {
    res.resume()
    if (res.statusCode !== 200) {
      process.stderr.write(`PutRecord: HTTP ${res.statusCode}\n`)
      process.exit(1)
    }
    setTimeout(put, interval)
  })
  req.on('error', (err) => {
    process.stderr.write(`PutRecord: ${err.message}\n`)
    process.exit(1)
  })
  req.end(body)
}
put()
