#!/usr/bin/env node
'use strict'
// fault-proxy.js - a loopback HTTP proxy between a Kinesis client and a
// Kinesis implementation that injects the faults of the real service, each
// BEFORE the record concerned is stored, so that a client that retries
// correctly stores every record exactly once, and in order (in scattered
// mode the service itself leaves no way to keep a key's order: see
// docs/aws.md).
//
//   node fault-proxy.js --upstream URL --port-file FILE --stats FILE
//        --control FILE [--seed N] [--parent-pid PID]
//
// The test chooses the fault by writing one line to the control file; it is
// read again every 50 ms, and the stats file says which line is in force
// ("mode") once it is:
//
//   none                          forward everything
//   reset    [rate=R] [repeat=K]  read the request, then reset the connection
//   http500  [rate=R] [repeat=K]  500 {"__type":"InternalFailure"}
//   http503  [rate=R] [repeat=K]  503 as the service and its load balancers
//                                 send it: {"__type":"ServiceUnavailable"},
//                                 {"__type":"InternalFailure"}, or an empty
//                                 body with x-amzn-ErrorType, at random
//   throttle [rate=R] [repeat=K]  400 ProvisionedThroughputExceededException
//   partial  [rate=R] [repeat=K]  PutRecords: for each shard of the request,
//                                 with probability R, fail its entries from a
//                                 random one on, as a throttled shard does;
//                                 only the other entries are forwarded, and
//                                 the answer has ErrorCode entries for the
//                                 failed ones (ProvisionedThroughputExceeded
//                                 or InternalFailure).  PutRecord: throttle.
//   scattered [rate=R] [repeat=K] PutRecords: each entry on its own fails
//                                 with probability R (InternalFailure), as
//                                 the service may fail any entries of a
//                                 call, not only a suffix of a shard's; the
//                                 others are forwarded and stored.
//                                 PutRecord: InternalFailure.
//   limits [bytes=B] [records=N] PutRecords: the service's per-shard write
//                                 limits, B bytes (data and partition keys,
//                                 default 1048576) and N records (default
//                                 1000) a second per shard, each a token
//                                 bucket holding a second's worth: from the
//                                 first entry of a shard over its budget on,
//                                 that shard's entries of the call fail with
//                                 ProvisionedThroughputExceededException;
//                                 the others are forwarded.  rate and
//                                 repeat do not apply.  The stats count what
//                                 each shard took ("limits").
//   slow     [rate=R] [ms=MS]     wait MS (default 1500) before forwarding;
//                                 nothing is forwarded if the client gave up
//   hang     [rate=R] [repeat=K]  read the request and never answer nor
//                                 forward it: only the client's timeout ends
//                                 the wait
//   expired  [rate=R] [repeat=K]  GetRecords: 400 ExpiredIteratorException,
//                                 for iterators that came from an earlier
//                                 GetRecords (NextShardIterator), never for
//                                 one just handed out by GetShardIterator
//                                 (those are fresh at the service too)
//   expiredtoken keys=ID,ID       every request signed with one of these
//                                 access key ids gets 400
//                                 ExpiredTokenException (rate and repeat do
//                                 not apply; actions default to all)
//   gone     [secs=S]             refuse connections for S seconds (default
//                                 10): the port is closed and idle
//                                 connections dropped; then mode none
//   mix      [rate=R] [repeat=K]  each faulted request gets one of reset,
//                                 http500, throttle, partial, slow at random
//
// and, with any mode, actions=A,B,... the X-Amz-Target actions it applies
// to (default PutRecords,PutRecord; GetRecords for expired; "all" for every
// action).
//
// A fault is only injected on a request whose records (PutRecords and
// PutRecord entries, identified by partition key, hash key and data; for
// other actions, the body) have each been faulted fewer than K times
// (repeat, default 2), so a client whose retry budget is longer than K
// attempts always gets through; R (rate, default 0.5) is the chance that
// an eligible request is faulted.  Faults never hit a request after its
// records were forwarded: a reset or an error answer means "not stored".

const crypto = require('crypto')
const fs = require('fs')
const http = require('http')
const common = require('./common')

const NAME = 'fault-proxy'
const args = common.parseArgs(NAME, {
  upstream: { type: 'string' },
  'port-file': { type: 'string' },
  stats: { type: 'string' },
  control: { type: 'string' },
  seed: { type: 'string' },
  'parent-pid': { type: 'string' },
})
if (!args.upstream || !args['port-file'] || !args.stats || !args.control) {
  common.log(NAME, 'usage: fault-proxy.js --upstream URL --port-file FILE --stats FILE --control FILE ' +
    '[--seed N] [--parent-pid PID]')
  process.exit(2)
}
const upstream = new URL(args.upstream)

// A small seeded generator (mulberry32), so a failing run can be replayed.
let seed = args.seed !== undefined ? Number(args.seed) >>> 0 : crypto.randomBytes(4).readUInt32LE(0)
common.log(NAME, `seed ${seed}`)
function random() {
  seed = (seed + 0x6d2b79f5) >>> 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const getTimes = []      // arrivals of the GetRecords of the last second
const stats = {
  mode: 'none',          // the control line in force
  seed,
  requests: 0,           // requests received
  forwarded: 0,          // requests forwarded (whole or in part)
  entries_forwarded: 0,  // PutRecords/PutRecord entries forwarded
  actions: {},           // requests received by action
  get_records_max_1s: 0, // most GetRecords received within one second
  get_records_min_gap_ms: null, // shortest time between two GetRecords
  faults: {              // faults injected
    reset: 0, http500: 0, http503: 0, throttle: 0,
    partial_requests: 0, partial_entries: 0, limited_requests: 0, limited_entries: 0,
    slow: 0, slow_abandoned: 0, hang: 0, expired: 0, expiredtoken: 0,
    gone: 0, refused_requests: 0, dropped_connections: 0,
  },
  faulted_records: 0,    // entries in requests that got a fault
  upstream_errors: 0,    // forwards the upstream did not answer
  limits: {},            // limits mode: per shard, {bytes, records} taken
}
function saveStats() {
  common.writeAtomic(args.stats, JSON.stringify(stats, null, 1) + '\n')
}

// ---- the mode --------------------------------------------------------------

const MODES = ['none', 'reset', 'http500', 'http503', 'throttle', 'partial', 'scattered',
  'limits', 'slow', 'hang', 'expired', 'expiredtoken', 'gone', 'mix']
let mode = { name: 'none' }
let controlText = null

function parseMode(line) {
  const words = line.trim().split(/\s+/)
  const m = { name: words[0] || 'none', rate: 0.5, repeat: 2, ms: 1500, secs: 10,
    bytes: 1048576, records: 1000,
    actions: new Set(['PutRecords', 'PutRecord']), all: false, keys: new Set() }
  if (!MODES.includes(m.name)) throw new Error(`unknown mode ${m.name}`)
  if (m.name === 'expired') m.actions = new Set(['GetRecords'])
  if (m.name === 'expiredtoken') m.all = true
  for (const w of words.slice(1)) {
    const [k, v] = w.split('=')
    if (k === 'rate') m.rate = Number(v)
    else if (k === 'repeat') m.repeat = Number(v)
    else if (k === 'ms') m.ms = Number(v)
    else if (k === 'secs') m.secs = Number(v)
    else if (k === 'bytes') m.bytes = Number(v)
    else if (k === 'records') m.records = Number(v)
    else if (k === 'keys') m.keys = new Set(v.split(','))
    else if (k === 'actions') {
      m.all = v === 'all'
      m.actions = new Set(v.split(','))
    } else throw new Error(`unknown setting ${w}`)
  }
  return m
}

function pollControl() {
  let text
  try {
    text = fs.readFileSync(args.control, 'utf8')
  } catch (err) {
    text = 'none'
  }
  if (text === controlText) return
  controlText = text
  const line = text.split('\n')[0].trim() || 'none'
  let m
  try {
    m = parseMode(line)
  } catch (err) {
    common.log(NAME, `bad control line '${line}': ${err.message}`)
    process.exit(2)
  }
  common.log(NAME, `mode: ${line}`)
  if (m.name === 'gone') {
    goAway(m.secs, line)
    return
  }
  mode = m
  stats.mode = line
  saveStats()
}

// ---- connections, and the endpoint going away --------------------------------

const sockets = new Set()
let gone = false
let server
let port

function goAway(secs, line) {
  gone = true
  stats.faults.gone++
  mode = { name: 'none' }
  stats.mode = line
  server.close()
  // Idle connections go now; one whose request was forwarded gets its
  // answer first (the record is stored: the client must hear it).
  for (const s of sockets) {
    if (!s.kfsBusy) {
      stats.faults.dropped_connections++
      s.destroy()
    } else {
      s.kfsCloseAfter = true
    }
  }
  saveStats()
  setTimeout(() => {
    server = makeServer()
    server.listen(port, '127.0.0.1', () => {
      gone = false
      stats.mode = 'none'
      common.log(NAME, `back on port ${port} after ${secs}s`)
      saveStats()
    })
  }, secs * 1000)
}

// ---- shards, for partial failures -------------------------------------------

const shardMaps = new Map() // stream -> [{ id, start, end }] (open shards)

function upstreamCall(action, payload) {
  const body = Buffer.from(JSON.stringify(payload))
  const fake = {
    method: 'POST',
    url: '/',
    rawHeaders: ['Content-Type', 'application/x-amz-json-1.1',
      'X-Amz-Target', `Kinesis_20131202.${action}`,
      'X-Amz-Date', '20200101T000000Z',
      // kinesalite checks that a signature is there, not what it is.
      'Authorization', 'AWS4-HMAC-SHA256 Credential=fault-proxy/20200101/us-east-1/kinesis/aws4_request, ' +
        'SignedHeaders=host, Signature=00'],
  }
  return common.forward(upstream, fake, body).then((r) => {
    if (r.status !== 200) throw new Error(`${action} answered ${r.status}: ${r.body}`)
    return JSON.parse(r.body.toString())
  })
}

async function shardsOf(stream, refresh) {
  if (!refresh && shardMaps.has(stream)) return shardMaps.get(stream)
  const shards = []
  let next
  do {
    const r = await upstreamCall('ListShards', next ? { NextToken: next } : { StreamName: stream })
    for (const s of r.Shards) {
      if (s.SequenceNumberRange.EndingSequenceNumber) continue
      shards.push({ id: s.ShardId, start: BigInt(s.HashKeyRange.StartingHashKey),
        end: BigInt(s.HashKeyRange.EndingHashKey) })
    }
    next = r.NextToken
  } while (next)
  shardMaps.set(stream, shards)
  return shards
}

function hashKeyOf(entry) {
  if (entry.ExplicitHashKey != null) return BigInt(entry.ExplicitHashKey)
  return BigInt('0x' + crypto.createHash('md5').update(entry.PartitionKey, 'utf8').digest('hex'))
}

async function shardOf(stream, entry) {
  const h = hashKeyOf(entry)
  for (const refresh of [false, true]) {
    const s = (await shardsOf(stream, refresh)).find((x) => h >= x.start && h <= x.end)
    if (s) return s.id
  }
  return null
}

// ---- faults -------------------------------------------------------------------

const faultCounts = new Map() // record identity -> times faulted

function identity(s) {
  return crypto.createHash('sha1').update(s).digest('base64')
}

// The identities of what a request stores, or of the request itself.
function identitiesOf(action, body, parsed) {
  if (action === 'PutRecords' && parsed && Array.isArray(parsed.Records)) {
    return parsed.Records.map((e) => identity(`${e.PartitionKey}\0${e.ExplicitHashKey || ''}\0${e.Data}`))
  }
  if (action === 'PutRecord' && parsed) {
    return [identity(`${parsed.PartitionKey}\0${parsed.ExplicitHashKey || ''}\0${parsed.Data}`)]
  }
  return [identity(`${action}\0${body.toString('base64')}`)]
}

const count = (id) => faultCounts.get(id) || 0
const bump = (id) => faultCounts.set(id, count(id) + 1)

function throttleMessage(stream) {
  return `Rate exceeded for shard shardId-000000000000 in stream ${stream || '?'} under account 000000000000.`
}

// partial(req, res, parsed, ids, scattered): fails a suffix of some
// shards' entries, or (scattered) entries each on its own; true when it
// answered the request.
async function partial(req, res, body, parsed, ids, scattered) {
  const stream = parsed.StreamName
  const entries = parsed.Records
  const shardIds = []
  for (const e of entries) shardIds.push(await shardOf(stream, e))
  const fail = new Array(entries.length).fill(null)
  const byShard = new Map()
  entries.forEach((e, i) => {
    if (!byShard.has(shardIds[i])) byShard.set(shardIds[i], [])
    byShard.get(shardIds[i]).push(i)
  })
  if (scattered) {
    entries.forEach((e, i) => {
      if (shardIds[i] !== null && count(ids[i]) < mode.repeat && random() < mode.rate) {
        fail[i] = { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal service failure.' }
      }
    })
  }
  for (const [shardId, idx] of byShard) {
    if (scattered || shardId === null || random() >= mode.rate) continue
    // From a random entry of this shard on, but never an entry already
    // faulted `repeat` times (nor, to keep the order, one before it).
    let cut = Math.floor(random() * idx.length)
    idx.forEach((i, j) => {
      if (count(ids[i]) >= mode.repeat) cut = Math.max(cut, j + 1)
    })
    const code = random() < 0.75 ? 'ProvisionedThroughputExceededException' : 'InternalFailure'
    for (let j = cut; j < idx.length; j++) {
      fail[idx[j]] = code === 'InternalFailure'
        ? { ErrorCode: code, ErrorMessage: 'Internal service failure.' }
        : { ErrorCode: code, ErrorMessage: `Rate exceeded for shard ${shardId} in stream ${stream} under account 000000000000.` }
    }
  }
  const failed = fail.filter(Boolean).length
  if (failed === 0) return false
  stats.faults.partial_requests++
  stats.faults.partial_entries += failed
  stats.faulted_records += failed
  fail.forEach((f, i) => { if (f) bump(ids[i]) })
  return forwardPartial(req, res, parsed, fail)
}

// Per shard of the limits mode: {bytes, records} tokens and when they were
// last topped up (ms).
const buckets = new Map()

// limits(req, res, parsed): the per-shard write limits on a PutRecords;
// true when it answered the request (some entry over a budget).
async function limits(req, res, parsed) {
  const stream = parsed.StreamName
  const entries = parsed.Records
  const fail = new Array(entries.length).fill(null)
  const over = new Set()
  const now = Date.now()
  const taken = []
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]
    const shardId = await shardOf(stream, e)
    if (shardId === null) continue
    const key = `${stream}/${shardId}`
    let b = buckets.get(key)
    if (!b) {
      b = { bytes: mode.bytes, records: mode.records, at: now }
      buckets.set(key, b)
    }
    const dt = (now - b.at) / 1000
    b.bytes = Math.min(mode.bytes, b.bytes + dt * mode.bytes)
    b.records = Math.min(mode.records, b.records + dt * mode.records)
    b.at = now
    const size = Buffer.byteLength(String(e.Data || ''), 'base64') +
      Buffer.byteLength(String(e.PartitionKey || ''), 'utf8')
    if (over.has(shardId) || b.bytes < size || b.records < 1) {
      over.add(shardId)
      fail[i] = { ErrorCode: 'ProvisionedThroughputExceededException',
        ErrorMessage: `Rate exceeded for shard ${shardId} in stream ${stream} under account 000000000000.` }
      continue
    }
    b.bytes -= size
    b.records -= 1
    taken.push([shardId, size])
  }
  for (const [shardId, size] of taken) {
    const t = stats.limits[shardId] || (stats.limits[shardId] = { bytes: 0, records: 0 })
    t.bytes += size
    t.records++
  }
  const failed = fail.filter(Boolean).length
  if (failed === 0) {
    saveStats()
    return false
  }
  stats.faults.limited_requests++
  stats.faults.limited_entries += failed
  return forwardPartial(req, res, parsed, fail)
}

// Forwards the entries of a PutRecords that fail[] leaves (all of them
// when none is left: an answer without a call) and answers with their
// results and the failures in their places; true (it answered).
async function forwardPartial(req, res, parsed, fail) {
  const entries = parsed.Records
  const kept = entries.filter((e, i) => !fail[i])
  let results = []
  const status = 200
  let upHeaders = []
  if (kept.length) {
    const sub = Buffer.from(JSON.stringify({ ...parsed, Records: kept }))
    req.socket.kfsBusy = true
    let up
    try {
      up = await common.forward(upstream, req, sub)
    } catch (err) {
      stats.upstream_errors++
      saveStats()
      common.log(NAME, `upstream failed: ${err.message}`)
      req.socket.destroy()
      return true
    }
    stats.forwarded++
    stats.entries_forwarded += kept.length
    if (up.status !== 200) {
      // Nothing of it was stored: pass the error on as it is.
      saveStats()
      common.reply(res, up.status, up.headers, up.body)
      return true
    }
    results = JSON.parse(up.body.toString()).Records
    upHeaders = up.headers
  }
  const merged = []
  let r = 0
  let failedCount = 0
  for (let i = 0; i < entries.length; i++) {
    const x = fail[i] || results[r++]
    if (x.ErrorCode) failedCount++
    merged.push(x)
  }
  saveStats()
  const out = Buffer.from(JSON.stringify({ FailedRecordCount: failedCount, Records: merged }))
  const headers = []
  for (let i = 0; i < upHeaders.length; i += 2) {
    if (upHeaders[i].toLowerCase() !== 'content-length') headers.push(upHeaders[i], upHeaders[i + 1])
  }
  if (!headers.length) headers.push('Content-Type', 'application/x-amz-json-1.1')
  common.reply(res, status, headers, out)
  return true
}

// The access key id a request is signed with ("" when unsigned).
function accessKeyOf(req) {
  const m = /Credential=([^/,\s]+)\//.exec(String(req.headers.authorization || ''))
  return m ? m[1] : ''
}

// Iterators handed out by GetShardIterator: fresh, never expired here.
const freshIterators = new Set()
function noteFresh(body) {
  try {
    const it = JSON.parse(body.toString()).ShardIterator
    if (typeof it !== 'string') return
    if (freshIterators.size >= 100000) freshIterators.clear()
    freshIterators.add(it)
  } catch (err) {
    // Not ours to judge: the client reads the answer.
  }
}

// A 503 in one of the shapes the service and its load balancers send.
function reply503(res) {
  const pick = Math.floor(random() * 3)
  if (pick === 2) {
    res.writeHead(503, { 'x-amzn-ErrorType': 'ServiceUnavailableException:http://internal.amazon.com/coral/',
      'x-amzn-RequestId': `kfs-test-${process.pid}-${Date.now()}`, 'Content-Length': '0' })
    return res.end()
  }
  return common.replyJson(res, 503, pick === 0
    ? { __type: 'ServiceUnavailable', message: 'Service Unavailable' }
    : { __type: 'InternalFailure', message: 'Internal service failure.' })
}

function wait(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

async function handle(req, res) {
  let body
  try {
    body = await common.readBody(req)
  } catch (err) {
    return
  }
  if (gone) {
    // A request that came on a connection accepted just before the outage.
    stats.faults.refused_requests++
    saveStats()
    req.socket.destroy()
    return
  }
  stats.requests++
  const action = String(req.headers['x-amz-target'] || '').split('.')[1] || '?'
  stats.actions[action] = (stats.actions[action] || 0) + 1
  if (action === 'GetRecords') {
    const now = Date.now()
    if (getTimes.length) {
      const gap = now - getTimes[getTimes.length - 1]
      if (stats.get_records_min_gap_ms === null || gap < stats.get_records_min_gap_ms) stats.get_records_min_gap_ms = gap
    }
    getTimes.push(now)
    while (getTimes[0] <= now - 1000) getTimes.shift()
    if (getTimes.length > stats.get_records_max_1s) stats.get_records_max_1s = getTimes.length
  }
  let parsed = null
  try {
    parsed = JSON.parse(body.toString())
  } catch (err) {
    parsed = null
  }

  let m = mode
  if (m.name === 'expiredtoken') {
    if ((m.all || m.actions.has(action)) && m.keys.has(accessKeyOf(req))) {
      stats.faults.expiredtoken++
      saveStats()
      return common.replyJson(res, 400, { __type: 'ExpiredTokenException',
        message: 'The security token included in the request is expired' })
    }
  } else if (m.name === 'expired' && !(action === 'GetRecords' && parsed &&
      typeof parsed.ShardIterator === 'string' && !freshIterators.has(parsed.ShardIterator))) {
    // Only an iterator from an earlier GetRecords can have expired.
  } else if (m.name !== 'none' && (m.all || m.actions.has(action))) {
    const ids = identitiesOf(action, body, parsed)
    let kind = m.name
    if (kind === 'mix') kind = ['reset', 'http500', 'throttle', 'partial', 'slow'][Math.floor(random() * 5)]
    if (kind === 'limits') {
      if (action === 'PutRecords' && parsed && Array.isArray(parsed.Records) &&
          await limits(req, res, parsed)) {
        afterAnswer(req)
        return
      }
    } else if ((kind === 'partial' || kind === 'scattered') && action === 'PutRecords' && parsed &&
        Array.isArray(parsed.Records)) {
      if (await partial(req, res, body, parsed, ids, kind === 'scattered')) {
        afterAnswer(req)
        return
      }
    } else if (kind === 'slow') {
      if (random() < m.rate) {
        stats.faults.slow++
        saveStats()
        await wait(m.ms)
        if (req.socket.destroyed || res.writableEnded) {
          stats.faults.slow_abandoned++
          saveStats()
          return
        }
      }
    } else if (ids.every((id) => count(id) < m.repeat) && random() < m.rate) {
      if (kind === 'partial') kind = 'throttle'
      if (kind === 'scattered') kind = 'http500'
      ids.forEach(bump)
      stats.faulted_records += ids.length
      stats.faults[kind]++
      saveStats()
      if (kind === 'reset') {
        if (req.socket.resetAndDestroy) req.socket.resetAndDestroy()
        else req.socket.destroy()
        return
      }
      if (kind === 'http500') {
        return common.replyJson(res, 500, { __type: 'InternalFailure', message: 'Internal service failure.' })
      }
      if (kind === 'http503') return reply503(res)
      if (kind === 'hang') return   // the client's timeout ends it
      if (kind === 'expired') {
        const now = Date.now()
        return common.replyJson(res, 400, { __type: 'ExpiredIteratorException',
          message: `Iterator expired. The iterator was created at time ${new Date(now - 300500).toUTCString()} ` +
            `while right now it is ${new Date(now).toUTCString()} which is further in the future than the ` +
            'tolerated delay of 300000 milliseconds.' })
      }
      return common.replyJson(res, 400, { __type: 'ProvisionedThroughputExceededException',
        message: throttleMessage(parsed && parsed.StreamName) })
    }
  }

  req.socket.kfsBusy = true
  let up
  try {
    up = await common.forward(upstream, req, body)
  } catch (err) {
    stats.upstream_errors++
    saveStats()
    common.log(NAME, `upstream failed: ${err.message}`)
    req.socket.destroy()
    return
  }
  stats.forwarded++
  if (action === 'GetShardIterator' && up.status === 200) noteFresh(up.body)
  if (action === 'PutRecords' && parsed && Array.isArray(parsed.Records)) {
    stats.entries_forwarded += parsed.Records.length
  } else if (action === 'PutRecord') {
    stats.entries_forwarded++
  }
  saveStats()
  common.reply(res, up.status, up.headers, up.body)
  afterAnswer(req)
}

function afterAnswer(req) {
  const s = req.socket
  s.kfsBusy = false
  if (s.kfsCloseAfter || gone) s.end()
}

function makeServer() {
  const srv = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      common.log(NAME, `internal error: ${err.stack}`)
      process.exit(4)
    })
  })
  srv.requestTimeout = 120000
  srv.on('error', (err) => {
    common.log(NAME, `listen failed: ${err.message}`)
    process.exit(2)
  })
  srv.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  return srv
}

saveStats()
server = makeServer()
common.listen(server, args['port-file'], NAME, (p) => {
  port = p
  pollControl()
  setInterval(pollControl, 50)
})
common.watchParent(Number(args['parent-pid'] || 0), NAME)
process.on('SIGTERM', () => {
  saveStats()
  process.exit(0)
})
process.on('SIGINT', () => process.exit(0))
