'use strict'
// common.js - what the loopback helpers of the AWS tests share: listening on
// a free loopback port and telling the test which, following the test's
// shell so that nothing outlives it, reading bodies, forwarding a request
// upstream, and writing a stats file the test reads while they run.
//
// No dependency outside Node's standard library (Node 18 or later).

const fs = require('fs')
const http = require('http')
const path = require('path')

// log(name, ...): one line on stderr, which the test keeps in a log file.
function log(name, ...args) {
  process.stderr.write(`${name}: ${args.join(' ')}\n`)
}

// writeAtomic(file, text): readers never see half a file.
function writeAtomic(file, text) {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}`)
  fs.writeFileSync(tmp, text)
  fs.renameSync(tmp, file)
}

// listen(server, portFile, name, then, port): binds 127.0.0.1 on `port`,
// else on a port the kernel picks, runs then(port) (a readiness check may
// go there), and only then writes the port to portFile: the test waits for
// that file.
function listen(server, portFile, name, then, port) {
  server.on('error', (err) => {
    log(name, 'listen failed:', err.message)
    process.exit(2)
  })
  server.listen(port || 0, '127.0.0.1', async () => {
    const port = server.address().port
    try {
      if (then) await then(port)
    } catch (err) {
      log(name, 'readiness check failed:', err.message)
      process.exit(2)
    }
    if (portFile) writeAtomic(portFile, `${port}\n`)
    log(name, `listening on http://127.0.0.1:${port}`)
  })
}

// watchParent(pid, name, onExit): exits when the test's shell is gone (a
// test killed with SIGKILL cannot run its cleanup).
function watchParent(pid, name, onExit) {
  if (!pid) return
  setInterval(() => {
    try {
      process.kill(pid, 0)
    } catch (err) {
      if (err.code === 'ESRCH') {
        log(name, `parent ${pid} is gone, exiting`)
        if (onExit) onExit()
        process.exit(3)
      }
    }
  }, 1000).unref()
}

// readBody(req): the whole request body, as a Buffer.
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

// Headers that describe one connection, not the request: not forwarded.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'expect', 'content-length'])

const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 64 })

// forward(upstream, req, body, headers?): sends req's method, path and
// headers (as received, less the hop-by-hop ones) with body to upstream (a
// URL object); resolves to { status, headers, body }.
function forward(upstream, req, body, rawHeaders) {
  return new Promise((resolve, reject) => {
    const out = http.request({
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: headerObject(rawHeaders || req.rawHeaders, body.length),
      agent: upstreamAgent,
    }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.rawHeaders,
        body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    out.on('error', reject)
    out.end(body)
  })
}

// headerObject(raw, length): raw headers (name, value, name, value...) as
// an object for http.request, names as received, a repeated header's values
// in an array (each sent on its own line), the hop-by-hop ones left out.
function headerObject(raw, length) {
  const byLower = new Map()
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase()
    if (HOP_BY_HOP.has(lower)) continue
    if (!byLower.has(lower)) byLower.set(lower, { name: raw[i], values: [] })
    byLower.get(lower).values.push(raw[i + 1])
  }
  const headers = {}
  for (const { name, values } of byLower.values()) {
    headers[name] = values.length === 1 ? values[0] : values
  }
  headers['Content-Length'] = String(length)
  return headers
}

// reply(res, status, rawHeaders, body): answers with the upstream's headers
// (less the hop-by-hop ones) and body.
function reply(res, status, rawHeaders, body) {
  const headers = []
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (!HOP_BY_HOP.has(rawHeaders[i].toLowerCase())) headers.push(rawHeaders[i], rawHeaders[i + 1])
  }
  headers.push('Content-Length', String(body.length))
  res.writeHead(status, headers)
  res.end(body)
}

// replyJson(res, status, obj): a Kinesis-style JSON answer.
function replyJson(res, status, obj) {
  const body = Buffer.from(JSON.stringify(obj))
  res.writeHead(status, {
    'Content-Type': 'application/x-amz-json-1.1',
    'Content-Length': String(body.length),
    'x-amzn-RequestId': `kfs-test-${process.pid}-${Date.now()}`,
  })
  res.end(body)
}

// parseArgs(spec): util.parseArgs with strict checking; exits 2 on misuse.
function parseArgs(name, options) {
  const util = require('util')
  try {
    return util.parseArgs({ options, strict: true, allowPositionals: false }).values
  } catch (err) {
    log(name, err.message)
    process.exit(2)
  }
}

module.exports = { log, writeAtomic, listen, watchParent, readBody, forward, reply, replyJson,
  parseArgs }
