#!/usr/bin/env node
'use strict'
// kinesalite.js - runs kinesalite (the npm package pinned in package.json,
// in memory) on a free loopback port for one test.
//
//   node kinesalite.js --port-file FILE [--parent-pid PID] [--stream-ms MS]
//                      [--shard-limit N]
//
// kinesalite's own command line cannot take port 0 (it reads `--port 0` as
// "no port" and takes 4567) and listens on every address, so this binds
// 127.0.0.1 on a port the kernel picks, checks that ListStreams answers,
// and then writes the port to FILE.  Streams stay CREATING, DELETING and
// UPDATING for MS milliseconds (kinesalite's default is 500).  SIGTERM
// stops it.

const http = require('http')
const path = require('path')
const common = require('./common')

const NAME = 'kinesalite'
const args = common.parseArgs(NAME, {
  'port-file': { type: 'string' },
  'parent-pid': { type: 'string' },
  'stream-ms': { type: 'string', default: '50' },
  'shard-limit': { type: 'string', default: '1000' },
})
if (!args['port-file']) {
  common.log(NAME, 'usage: kinesalite.js --port-file FILE [--parent-pid PID] [--stream-ms MS] [--shard-limit N]')
  process.exit(2)
}

// GetShardIterator AT_TIMESTAMP: kinesalite never answers when no record of
// the shard arrived at or after the time (its lookup waits for a first
// one), where the service gives an iterator at the tip.  Key files ask for
// such iterators in every shard (docs/aws.md, "Key files"), so this does
// what the service does: with no such record, the iterator is LATEST's.
// Set before kinesalite loads its actions.
function patchAtTimestamp(base) {
  const db = require(path.join(base, 'kinesalite', 'db'))
  const file = require.resolve(path.join(base, 'kinesalite', 'actions', 'getShardIterator'))
  const original = require(file)
  require.cache[file].exports = function getShardIterator(store, data, cb) {
    let shardIx
    if (data.ShardIteratorType !== 'AT_TIMESTAMP' || data.Timestamp == null) return original(store, data, cb)
    try {
      shardIx = db.resolveShardId(data.ShardId).shardIx
    } catch (e) {
      return original(store, data, cb)
    }
    // Under the stream's lock, which PutRecord(s) hold until their
    // records are stored: a record put meanwhile is neither missed by the
    // look-up nor passed by LATEST's iterator (it would be lost to the
    // reader, though it arrived after the time).
    store.metaDb.lock(data.StreamName, (release) => {
      const done = release(cb)
      let found = false
      store.getStreamDb(data.StreamName).createReadStream({
        gt: db.shardIxToHex(shardIx),
        lt: db.shardIxToHex(shardIx + 1),
      }).on('data', (item) => {
        if (item.value.ApproximateArrivalTimestamp >= data.Timestamp) found = true
      }).on('error', () => original(store, data, done)).on('end', () => {
        if (found || data.Timestamp * 1000 > Date.now()) return original(store, data, done)
        original(store, Object.assign({}, data, { ShardIteratorType: 'LATEST', Timestamp: undefined }), done)
      })
    })
  }
}

// Resolved from this directory's node_modules, or from KFS_AWS_NODE_MODULES
// (a copy of the tree without them, such as make check-sanitizers' distdir).
let kinesalite
try {
  const base = process.env.KFS_AWS_NODE_MODULES || path.join(__dirname, 'node_modules')
  patchAtTimestamp(base)
  kinesalite = require(path.join(base, 'kinesalite'))
} catch (err) {
  common.log(NAME, `cannot load kinesalite (npm ci --prefix tests/aws installs it): ${err.message}`)
  process.exit(2)
}

const ms = Number(args['stream-ms'])
const server = kinesalite({
  createStreamMs: ms,
  deleteStreamMs: ms,
  updateStreamMs: ms,
  // The default (10 shards in all) is less than one test's streams.
  shardLimit: Number(args['shard-limit']),
})

// ListStreams with a (dummy) signature: kinesalite checks that one is there.
function ping(port) {
  return new Promise((resolve, reject) => {
    const body = '{}'
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/',
      headers: {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': 'Kinesis_20131202.ListStreams',
        'X-Amz-Date': '20200101T000000Z',
        Authorization: 'AWS4-HMAC-SHA256 Credential=ping/20200101/us-east-1/kinesis/aws4_request, ' +
          'SignedHeaders=host, Signature=00',
        'Content-Length': body.length,
      },
    }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString()
        if (res.statusCode === 200 && /StreamNames/.test(text)) resolve()
        else reject(new Error(`ListStreams answered ${res.statusCode}: ${text}`))
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

common.listen(server, args['port-file'], NAME, ping)
common.watchParent(Number(args['parent-pid'] || 0), NAME)
process.on('SIGTERM', () => process.exit(0))
process.on('SIGINT', () => process.exit(0))
