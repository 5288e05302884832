#!/usr/bin/env node
'use strict'
// fanout-server.js - enhanced fan-out in front of kinesalite, which has
// none: on one loopback port it takes HTTP/1.1 and HTTP/2 (with prior
// knowledge: the connection preface tells them apart), answers the stream
// consumer actions (RegisterStreamConsumer, DescribeStreamConsumer,
// ListStreamConsumers, DeregisterStreamConsumer) and SubscribeToShard as
// the service does, and forwards every other action to kinesalite.
//
//   node fanout-server.js --upstream URL --port-file FILE --stats FILE
//        --control FILE [--sub-life MS] [--register-ms MS] [--parent-pid PID]
//
// SubscribeToShard (HTTP/2 only, as at the service) answers 200 with
// content-type application/vnd.amazon.eventstream: an initial-response
// event, then SubscribeToShardEvent events (binary event stream messages
// with their prelude and message CRC-32s) carrying the records read from
// kinesalite every 50 ms, a ContinuationSequenceNumber and
// MillisBehindLatest, at least one a second; after --sub-life ms (default
// 300000, the service's 5 minutes) the stream ends.  Calling it again for
// the same consumer and shard within 5 s of a successful call is
// ResourceInUseException, as at the service.  A consumer is CREATING for
// --register-ms (default 1000) after it is registered.
//
// The control file's line (read every 50 ms) applies to the next
// subscription:
//   none            as above
//   early EVENTS    the subscription is cut (RST_STREAM) after EVENTS events
//   fail EVENTS     after EVENTS events, an exception event
//                   (InternalFailure) ends it
//   refuse          the call is answered 500 InternalFailure
// then the mode goes back to none.
//
// The stats file counts consumers registered, described and
// deregistered, subscriptions (with their starting positions), and
// `continuity`: for each subscription after the first of a consumer and
// shard, whether it started AFTER_SEQUENCE_NUMBER of the last
// ContinuationSequenceNumber sent (ok) or anywhere else (gaps).

const fs = require('fs')
const http = require('http')
const http2 = require('http2')
const net = require('net')
const common = require('./common')

const NAME = 'fanout-server'
const args = common.parseArgs(NAME, {
  upstream: { type: 'string' },
  'port-file': { type: 'string' },
  stats: { type: 'string' },
  control: { type: 'string' },
  'sub-life': { type: 'string' },
  'register-ms': { type: 'string' },
  'parent-pid': { type: 'string' },
})
if (!args.upstream || !args['port-file'] || !args.stats || !args.control) {
  common.log(NAME, 'usage: fanout-server.js --upstream URL --port-file FILE --stats FILE ' +
    '--control FILE [--sub-life MS] [--register-ms MS] [--parent-pid PID]')
  process.exit(2)
}
const upstream = new URL(args.upstream)
const subLife = Number(args['sub-life'] || 300000)
const registerMs = Number(args['register-ms'] || 1000)

const stats = {
  mode: 'none',
  registered: 0, described: 0, deregistered: 0, listed: 0,
  subscriptions: 0, refused: 0, in_use: 0, events: 0, records: 0,
  early: 0, failed: 0, ended: 0,
  continuity: { ok: 0, gaps: 0 },
  starts: [],         // [shard, type, seq] of each subscription
  http2_requests: 0, http1_requests: 0,
}
let statsDirty = true
setInterval(() => {
  if (statsDirty) {
    statsDirty = false
    common.writeAtomic(args.stats, JSON.stringify(stats))
  }
}, 50).unref()

let mode = { name: 'none', events: 0 }
setInterval(() => {
  let line = 'none'
  try {
    line = fs.readFileSync(args.control, 'utf8').trim() || 'none'
  } catch (err) {
    line = 'none'
  }
  if (line !== stats.mode && line !== mode.line) {
    const [name, n] = line.split(/\s+/)
    mode = { name, events: Number(n || 0), line }
    stats.mode = line
    statsDirty = true
  }
}, 50).unref()
function takeMode() {
  const m = mode
  if (m.name !== 'none') {
    try { fs.writeFileSync(args.control, 'none\n') } catch (err) { /* the test's */ }
    mode = { name: 'none', events: 0, line: 'none' }
    stats.mode = 'none'
    statsDirty = true
  }
  return m
}

// ---- CRC-32 and the event stream encoding --------------------------------
const CRC_TABLE = new Int32Array(256)
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1
  CRC_TABLE[n] = c
}
function crc32(buf) {
  let c = -1
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8)
  return (c ^ -1) >>> 0
}
function message(headers, payload) {
  const hs = []
  for (const [name, value] of Object.entries(headers)) {
    const n = Buffer.from(name)
    const v = Buffer.from(value)
    const h = Buffer.alloc(1 + n.length + 3 + v.length)
    h[0] = n.length
    n.copy(h, 1)
    h[1 + n.length] = 7
    h.writeUInt16BE(v.length, 2 + n.length)
    v.copy(h, 4 + n.length)
    hs.push(h)
  }
  const hb = Buffer.concat(hs)
  const total = 12 + hb.length + payload.length + 4
  const out = Buffer.alloc(total)
  out.writeUInt32BE(total, 0)
  out.writeUInt32BE(hb.length, 4)
  out.writeUInt32BE(crc32(out.subarray(0, 8)), 8)
  hb.copy(out, 12)
  payload.copy(out, 12 + hb.length)
  out.writeUInt32BE(crc32(out.subarray(0, total - 4)), total - 4)
  return out
}
const event = (type, obj) => message({ ':message-type': 'event', ':event-type': type,
  ':content-type': 'application/json' }, Buffer.from(JSON.stringify(obj)))
const exception = (type, msg) => message({ ':message-type': 'exception', ':exception-type': type,
  ':content-type': 'application/json' }, Buffer.from(JSON.stringify({ message: msg })))

// ---- kinesalite --------------------------------------------------------------
function kinesis(action, body) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body))
    const req = http.request({ host: upstream.hostname, port: upstream.port, method: 'POST', path: '/',
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `Kinesis_20131202.${action}`,
        Authorization: 'AWS4-HMAC-SHA256 Credential=AKIAKFSTEST000000001/20200101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0',
        'X-Amz-Date': '20200101T000000Z', 'Content-Length': String(data.length) } }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString()
        let j = {}
        try { j = text ? JSON.parse(text) : {} } catch (err) { j = {} }
        resolve({ status: res.statusCode, body: j })
      })
    })
    req.on('error', reject)
    req.end(data)
  })
}

// ---- consumers -------------------------------------------------------------------
const consumers = new Map()   // ARN -> { name, arn, streamArn, stream, created, status }
const streamOf = (arn) => { const m = /:stream\/([^/]+)/.exec(arn || ''); return m ? m[1] : null }
function describe(c) {
  if (c.status === 'CREATING' && Date.now() - c.created >= registerMs) c.status = 'ACTIVE'
  return { ConsumerName: c.name, ConsumerARN: c.arn, ConsumerStatus: c.status,
    ConsumerCreationTimestamp: c.created / 1000, StreamARN: c.streamArn }
}
function findConsumer(b) {
  if (b.ConsumerARN) return consumers.get(b.ConsumerARN)
  for (const c of consumers.values()) if (c.streamArn === b.StreamARN && c.name === b.ConsumerName) return c
  return undefined
}
const err400 = (type, msg) => [400, { __type: type, message: msg }]

async function consumerAction(action, b) {
  if (action === 'RegisterStreamConsumer') {
    const stream = streamOf(b.StreamARN)
    const d = stream ? await kinesis('DescribeStreamSummary', { StreamName: stream }) : { status: 400 }
    if (d.status !== 200) return err400('ResourceNotFoundException', `Stream ${b.StreamARN} not found`)
    if (!/^[a-zA-Z0-9_.-]{1,128}$/.test(b.ConsumerName || '')) return err400('ValidationException', 'bad ConsumerName')
    if (findConsumer(b)) return err400('ResourceInUseException', `Consumer ${b.ConsumerName} exists`)
    const created = Date.now()
    const c = { name: b.ConsumerName, streamArn: b.StreamARN, stream, created, status: 'CREATING',
      arn: `${b.StreamARN}/consumer/${b.ConsumerName}:${Math.floor(created / 1000)}` }
    consumers.set(c.arn, c)
    stats.registered++
    return [200, { Consumer: describe(c) }]
  }
  if (action === 'DescribeStreamConsumer') {
    stats.described++
    const c = findConsumer(b)
    if (!c) return err400('ResourceNotFoundException', `Consumer ${b.ConsumerName || b.ConsumerARN} not found`)
    return [200, { ConsumerDescription: describe(c) }]
  }
  if (action === 'ListStreamConsumers') {
    stats.listed++
    return [200, { Consumers: [...consumers.values()].filter((c) => c.streamArn === b.StreamARN).map(describe) }]
  }
  // DeregisterStreamConsumer
  const c = findConsumer(b)
  if (!c) return err400('ResourceNotFoundException', 'Consumer not found')
  consumers.delete(c.arn)
  stats.deregistered++
  return [200, {}]
}

// ---- SubscribeToShard --------------------------------------------------------------
const lastCont = new Map()     // consumer ARN + shard -> last ContinuationSequenceNumber sent
const lastSub = new Map()      // consumer ARN + shard -> time of the last successful call

async function subscribe(stream, b) {
  const c = consumers.get(b.ConsumerARN)
  const respondErr = (status, type, msg) => {
    stream.respond({ ':status': status, 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type })
    stream.end(JSON.stringify({ __type: type, message: msg }))
  }
  if (!c) return respondErr(400, 'ResourceNotFoundException', `Consumer ${b.ConsumerARN} not found`)
  describe(c)
  if (c.status !== 'ACTIVE') return respondErr(400, 'ResourceInUseException', `Consumer ${c.name} is ${c.status}`)
  const key = `${c.arn} ${b.ShardId}`
  if (lastSub.has(key) && Date.now() - lastSub.get(key) < 5000) {
    stats.in_use++
    statsDirty = true
    return respondErr(400, 'ResourceInUseException', `Another active subscription exists for ${b.ShardId}`)
  }
  const m = takeMode()
  if (m.name === 'refuse') {
    stats.refused++
    return respondErr(500, 'InternalFailure', 'refused by the test')
  }
  const pos = b.StartingPosition || {}
  const spec = { StreamName: c.stream, ShardId: b.ShardId, ShardIteratorType: pos.Type }
  if (pos.SequenceNumber) spec.StartingSequenceNumber = pos.SequenceNumber
  if (pos.Timestamp) spec.Timestamp = pos.Timestamp
  const it = await kinesis('GetShardIterator', spec)
  if (it.status !== 200) return respondErr(it.status, it.body.__type || 'InvalidArgumentException', it.body.message || '')
  stats.subscriptions++
  stats.starts.push([b.ShardId, pos.Type, pos.SequenceNumber || ''])
  if (lastCont.has(key)) {
    if (pos.Type === 'AFTER_SEQUENCE_NUMBER' && pos.SequenceNumber === lastCont.get(key)) stats.continuity.ok++
    else stats.continuity.gaps++
  }
  statsDirty = true
  lastSub.set(key, Date.now())
  let cont = pos.SequenceNumber || '0'
  let iter = it.body.ShardIterator
  let sent = 0
  let lastSent = 0
  let done = false
  const started = Date.now()
  stream.on('close', () => { done = true })
  stream.on('error', () => { done = true })
  stream.respond({ ':status': 200, 'content-type': 'application/vnd.amazon.eventstream' })
  stream.write(event('initial-response', {}))
  while (!done) {
    if (m.name === 'early' && sent >= m.events) {
      stats.early++
      statsDirty = true
      // The events sent reach the client first (a reset drops what is
      // still queued): the continuity count is of what it got.
      await new Promise((resolve) => setTimeout(resolve, 200))
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
      return
    }
    if (m.name === 'fail' && sent >= m.events) {
      stats.failed++
      statsDirty = true
      stream.end(exception('InternalFailure', 'the test fails this subscription'))
      return
    }
    if (Date.now() - started >= subLife) {
      stats.ended++
      statsDirty = true
      stream.end()
      return
    }
    const r = await kinesis('GetRecords', { ShardIterator: iter, Limit: 1000 })
    if (done) return
    if (r.status !== 200) {
      stream.end(exception(r.body.__type || 'InternalFailure', r.body.message || 'GetRecords failed'))
      return
    }
    const recs = r.body.Records || []
    if (recs.length) cont = recs[recs.length - 1].SequenceNumber
    if (recs.length || Date.now() - lastSent >= 1000 || !r.body.NextShardIterator) {
      const ev = { Records: recs, ContinuationSequenceNumber: cont, MillisBehindLatest: r.body.MillisBehindLatest || 0 }
      stream.write(event('SubscribeToShardEvent', ev))
      lastCont.set(key, cont)
      sent++
      lastSent = Date.now()
      stats.events++
      stats.records += recs.length
      statsDirty = true
    }
    if (!r.body.NextShardIterator) {
      stream.end()
      return
    }
    iter = r.body.NextShardIterator
    if (!recs.length) await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

// ---- the two protocols on one port ---------------------------------------------------
const CONSUMER_ACTIONS = new Set(['RegisterStreamConsumer', 'DescribeStreamConsumer',
  'ListStreamConsumers', 'DeregisterStreamConsumer'])

async function handle(action, body, answer, forwardIt) {
  let b = {}
  try { b = JSON.parse(body.toString() || '{}') } catch (err) { return answer(400, { __type: 'SerializationException' }) }
  if (CONSUMER_ACTIONS.has(action)) {
    const [status, obj] = await consumerAction(action, b)
    statsDirty = true
    return answer(status, obj)
  }
  return forwardIt()
}

const h1 = http.createServer(async (req, res) => {
  stats.http1_requests++
  const body = await common.readBody(req)
  const action = String(req.headers['x-amz-target'] || '').split('.')[1] || ''
  if (action === 'SubscribeToShard') {
    return common.replyJson(res, 400, { __type: 'InvalidArgumentException', message: 'SubscribeToShard needs HTTP/2' })
  }
  await handle(action, body, (status, obj) => common.replyJson(res, status, obj), async () => {
    try {
      const up = await common.forward(upstream, req, body)
      common.reply(res, up.status, up.headers, up.body)
    } catch (err) {
      res.socket.destroy()
    }
  })
})

const h2 = http2.createServer()
h2.on('stream', (stream, headers) => {
  stats.http2_requests++
  const chunks = []
  stream.on('data', (c) => chunks.push(c))
  stream.on('error', () => {})
  stream.on('end', async () => {
    const body = Buffer.concat(chunks)
    const action = String(headers['x-amz-target'] || '').split('.')[1] || ''
    const answer = (status, obj) => {
      stream.respond({ ':status': status, 'content-type': 'application/x-amz-json-1.1' })
      stream.end(JSON.stringify(obj))
    }
    if (action === 'SubscribeToShard') {
      let b = {}
      try { b = JSON.parse(body.toString() || '{}') } catch (err) { return answer(400, { __type: 'SerializationException' }) }
      try { await subscribe(stream, b) } catch (err) { if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR) }
      return
    }
    await handle(action, body, answer, async () => {
      const up = await kinesis(action, JSON.parse(body.toString() || '{}'))
      answer(up.status, up.body)
    })
  })
})

// HTTP/2 sessions read their socket natively, so bytes taken off it to
// look at are lost to them: an HTTP/2 connection is piped, first bytes
// included, to the HTTP/2 server on a port of its own.
const PREFACE = 'PRI * HTTP/2.0'
let h2port = 0
h2.listen(0, '127.0.0.1', () => { h2port = h2.address().port })
const server = net.createServer((socket) => {
  socket.on('error', () => {})
  socket.once('data', (first) => {
    if (first.subarray(0, PREFACE.length).toString() === PREFACE) {
      const inner = net.connect(h2port, '127.0.0.1')
      inner.on('error', () => socket.destroy())
      socket.on('close', () => inner.destroy())
      inner.on('close', () => socket.destroy())
      inner.write(first)
      socket.pipe(inner)
      inner.pipe(socket)
      return
    }
    socket.pause()
    socket.unshift(first)
    h1.emit('connection', socket)
    socket.resume()
  })
})

process.on('SIGTERM', () => {
  common.writeAtomic(args.stats, JSON.stringify(stats))
  process.exit(0)
})
common.listen(server, args['port-file'], NAME)
common.watchParent(Number(args['parent-pid'] || 0), NAME)
