#!/usr/bin/env node
'use strict'
// creds-server.js - a loopback container credentials endpoint (what
// AWS_CONTAINER_CREDENTIALS_FULL_URI points at in ECS and EKS), whose
// credentials the test rotates while a mount uses them.
//
//   node creds-server.js --port-file FILE --stats FILE --control FILE
//        [--token T] [--parent-pid PID]
//
// Every GET is answered from the first line of the control file, read at
// each request:
//
//   KEYID [SECS]   200 {AccessKeyId: KEYID, SecretAccessKey, Token,
//                  Expiration: SECS (default 3600) from now}
//   fail           500, as an endpoint that is down
//
// With --token, a request whose Authorization header is not T gets 403.
// The stats file counts the answers: {"fetches": {"KEYID": n, ...},
// "failed": n, "refused": n}.

const fs = require('fs')
const http = require('http')
const common = require('./common')

const NAME = 'creds-server'
const args = common.parseArgs(NAME, {
  'port-file': { type: 'string' },
  stats: { type: 'string' },
  control: { type: 'string' },
  token: { type: 'string' },
  'parent-pid': { type: 'string' },
})
if (!args['port-file'] || !args.stats || !args.control) {
  common.log(NAME, 'usage: creds-server.js --port-file FILE --stats FILE --control FILE ' +
    '[--token T] [--parent-pid PID]')
  process.exit(2)
}

const stats = { fetches: {}, failed: 0, refused: 0 }
function saveStats() {
  common.writeAtomic(args.stats, JSON.stringify(stats) + '\n')
}

function answer(res, status, obj) {
  const body = Buffer.from(obj ? JSON.stringify(obj) : '')
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(body.length) })
  res.end(body)
}

const server = http.createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    if (args.token !== undefined && req.headers.authorization !== args.token) {
      stats.refused++
      saveStats()
      return answer(res, 403, { code: 'AccessDenied', message: 'bad authorization token' })
    }
    let line
    try {
      line = fs.readFileSync(args.control, 'utf8').split('\n')[0].trim()
    } catch (err) {
      line = 'fail'
    }
    const [key, secs] = line.split(/\s+/)
    if (!key || key === 'fail') {
      stats.failed++
      saveStats()
      return answer(res, 500, { code: 'InternalError', message: 'credentials unavailable' })
    }
    stats.fetches[key] = (stats.fetches[key] || 0) + 1
    saveStats()
    const expires = new Date(Date.now() + 1000 * Number(secs || 3600))
    answer(res, 200, {
      AccessKeyId: key,
      SecretAccessKey: `secret-of-${key}`,
      Token: `token-of-${key}`,
      Expiration: expires.toISOString().replace(/\.\d+Z$/, 'Z'),
    })
  })
})

saveStats()
common.listen(server, args['port-file'], NAME)
common.watchParent(Number(args['parent-pid'] || 0), NAME)
process.on('SIGTERM', () => process.exit(0))
process.on('SIGINT', () => process.exit(0))
