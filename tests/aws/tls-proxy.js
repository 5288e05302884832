#!/usr/bin/env node
'use strict'
// tls-proxy.js - a TLS front for kinesalite on loopback: takes TLS with the
// given certificate and key and passes the bytes on to the upstream port,
// so that the mount's HTTPS (certificate checks, -o ca_bundle) is tested
// against a real service.
//
//   node tls-proxy.js --upstream-port N --cert FILE --key FILE --port-file FILE
//                     [--port P] [--alpn LIST] [--parent-pid PID]
//
// With --alpn (e.g. h2,http/1.1), it offers those protocols in the
// handshake, as the service's endpoints do, so that a client that asks
// for HTTP/2 gets it (the upstream must then speak it: fanout-server.js).
//
// With --port, it listens on 127.0.0.1:P (443, in a network namespace of the
// test's own, for clients that cannot be given another port).
//
// It counts the TLS handshakes that completed and failed on stderr.

const fs = require('fs')
const net = require('net')
const tls = require('tls')
const common = require('./common')

const NAME = 'tls-proxy'
const args = common.parseArgs(NAME, {
  'upstream-port': { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'port-file': { type: 'string' },
  port: { type: 'string' },
  alpn: { type: 'string' },
  'parent-pid': { type: 'string' },
})
if (!args['upstream-port'] || !args.cert || !args.key || !args['port-file']) {
  common.log(NAME, 'usage: tls-proxy.js --upstream-port N --cert FILE --key FILE --port-file FILE ' +
    '[--parent-pid PID]')
  process.exit(2)
}

const server = tls.createServer({
  cert: fs.readFileSync(args.cert),
  key: fs.readFileSync(args.key),
  ...(args.alpn ? { ALPNProtocols: args.alpn.split(',') } : {}),
}, (clear) => {
  const up = net.connect(Number(args['upstream-port']), '127.0.0.1')
  clear.pipe(up)
  up.pipe(clear)
  const end = () => { clear.destroy(); up.destroy() }
  clear.on('error', end)
  up.on('error', end)
  clear.on('close', end)
  up.on('close', end)
})
server.on('tlsClientError', (err) => common.log(NAME, `handshake failed: ${err.message}`))
server.on('secureConnection', () => common.log(NAME, 'handshake done'))

process.on('SIGTERM', () => process.exit(0))
common.listen(server, args['port-file'], NAME, undefined, Number(args.port || 0))
common.watchParent(Number(args['parent-pid'] || 0), NAME)
