#!/usr/bin/env node
'use strict'
// sigv4-proxy.js - a loopback HTTP proxy that checks the AWS Signature
// Version 4 of every request before passing it on to the Kinesis endpoint.
//
//   KFS_SIGV4_SECRET_ACCESS_KEY=SECRET [KFS_SIGV4_SESSION_TOKEN=TOKEN] \
//   node sigv4-proxy.js --upstream URL --access-key-id ID --port-file FILE
//        --stats FILE [--region R] [--service S] [--parent-pid PID]
//
// The signature is recomputed here, independently of the client, with
// Node's crypto and the secret the test gave the client: the canonical
// request (method, path, query, the signed headers as received, the hash of
// the body as received), the string to sign, and the HMAC-SHA256 chain
// AWS4+secret -> date -> region -> service -> aws4_request.  Besides the
// signature itself it checks what AWS checks: the access key id, the scope
// (date of X-Amz-Date, region, service), a clock skew under 5 minutes, that
// host, X-Amz-Date and every X-Amz-* header sent are signed, that every
// signed header was sent, and X-Amz-Content-Sha256 when present.  When a
// session token is set, every request must carry it, signed, in
// X-Amz-Security-Token; when none is set, none may be sent.
//
// With --keys FILE instead of --access-key-id and the secret, any access
// key id of FILE is accepted (JSON {"ID": {"secret": S, "token": T or
// null}}, read at each request), and the stats count the requests signed
// by each ("keys": {"ID": n}).  With --sts as well, the proxy is also STS:
// a signed POST of a form (Action=AssumeRole, service "sts" in the scope)
// is answered here, as STS answers it, with temporary credentials derived
// from the role, the signing key and the external id (the same call made
// by two clients gets the same access key id), which are added to FILE;
// the stats list each AssumeRole ("assumed": [{role, source, external_id,
// session, duration}]).  AssumeRole with a SerialNumber needs a TokenCode.
// With --sts-life SECONDS, the credentials it gives expire that soon,
// whatever DurationSeconds asked (to see a client refresh them).
//
// With --sso TOKENS as well, it is also the IAM Identity Center portal:
// GET /federation/credentials?account_id=ID&role_name=NAME with the header
// x-amz-sso_bearer_token (unsigned, as the portal wants) is answered with
// role credentials derived from the account and the role, added to FILE,
// when the token is one of TOKENS (JSON {"TOKEN": true}, read at each
// request); else 401 UnauthorizedException.  The stats count them
// ("sso": [{account, role}]).
//
// A request that passes is forwarded unchanged (less hop-by-hop headers)
// and its answer returned unchanged.  One that fails is answered 403
// InvalidSignatureException, as AWS would, is never forwarded, and is
// counted: the stats file (JSON, rewritten after each request) says how
// many requests were checked and how many failed, with the first reasons,
// and the proxy exits 1 at SIGTERM if any failed.

const crypto = require('crypto')
const http = require('http')
const common = require('./common')

const NAME = 'sigv4-proxy'
const args = common.parseArgs(NAME, {
  upstream: { type: 'string' },
  'access-key-id': { type: 'string' },
  region: { type: 'string', default: 'us-east-1' },
  service: { type: 'string', default: 'kinesis' },
  'port-file': { type: 'string' },
  stats: { type: 'string' },
  keys: { type: 'string' },
  sts: { type: 'boolean' },
  sso: { type: 'string' },
  'sts-life': { type: 'string' },
  'parent-pid': { type: 'string' },
})
const fs = require('fs')
const secret = process.env.KFS_SIGV4_SECRET_ACCESS_KEY
const token = process.env.KFS_SIGV4_SESSION_TOKEN || ''
if (!args.upstream || !args['port-file'] || !args.stats ||
    !(args.keys || (args['access-key-id'] && secret))) {
  common.log(NAME, 'usage: KFS_SIGV4_SECRET_ACCESS_KEY=S [KFS_SIGV4_SESSION_TOKEN=T] sigv4-proxy.js ' +
    '--upstream URL --access-key-id ID --port-file FILE --stats FILE [--region R] [--service S] ' +
    '[--parent-pid PID]')
  process.exit(2)
}
const upstream = new URL(args.upstream)
const MAX_SKEW_MS = 5 * 60 * 1000

const stats = {
  checked: 0,        // requests whose signature was checked
  accepted: 0,       // ... and found right (then forwarded)
  mismatches: 0,     // ... and found wrong (answered 403, not forwarded)
  with_token: 0,     // accepted requests that carried the session token
  max_body: 0,       // largest accepted body, in bytes
  forward_errors: 0, // accepted requests the upstream did not answer
  actions: {},       // accepted requests by X-Amz-Target action
  keys: {},          // accepted requests by access key id
  kinesis_keys: {},  // ... of them, the Kinesis calls (forwarded)
  assumed: [],       // AssumeRole calls answered (--sts)
  sso: [],           // GetRoleCredentials answered (--sso)
  sso_refused: 0,    // ... refused: no token or an unknown one
  reasons: [],       // the first mismatches, why
}

// The secret and session token of an access key id.
function keyOf(keyId) {
  if (!args.keys) {
    if (keyId !== args['access-key-id']) throw new Error(`access key id ${keyId}, expected ${args['access-key-id']}`)
    return { secret, token }
  }
  const table = JSON.parse(fs.readFileSync(args.keys, 'utf8'))
  const k = table[keyId]
  if (!k) throw new Error(`unknown access key id ${keyId}`)
  if (k.expires && Date.now() > k.expires) throw new Error(`access key id ${keyId} expired`)
  return { secret: k.secret, token: k.token || '' }
}

function saveStats() {
  common.writeAtomic(args.stats, JSON.stringify(stats, null, 1) + '\n')
}

const sha256hex = (data) => crypto.createHash('sha256').update(data).digest('hex')
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest()

// RFC 3986 encoding as SigV4 wants it: only A-Z a-z 0-9 - _ . ~ kept.
function uriEncode(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
}

// The canonical URI of a non-S3 service: the path as sent (already encoded
// once by the client), each segment encoded once more.
function canonicalUri(rawPath) {
  if (rawPath === '' || rawPath === '/') return '/'
  return rawPath.split('/').map(uriEncode).join('/')
}

// The canonical query string: pairs decoded, encoded again, sorted.
function canonicalQuery(rawQuery) {
  if (!rawQuery) return ''
  const pairs = rawQuery.split('&').filter(Boolean).map((p) => {
    const i = p.indexOf('=')
    const k = decodeURIComponent((i < 0 ? p : p.slice(0, i)).replace(/\+/g, ' '))
    const v = i < 0 ? '' : decodeURIComponent(p.slice(i + 1).replace(/\+/g, ' '))
    return [uriEncode(k), uriEncode(v)]
  })
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
  return pairs.map(([k, v]) => `${k}=${v}`).join('&')
}

// Every value received for each header (lowercase name), in order.
function headerValues(rawHeaders) {
  const h = new Map()
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase()
    if (!h.has(name)) h.set(name, [])
    h.get(name).push(rawHeaders[i + 1])
  }
  return h
}

// Trimmed, inner runs of spaces made one, repeated headers joined by ','.
function canonicalValue(values) {
  return values.map((v) => v.trim().replace(/\s+/g, ' ')).join(',')
}

// check(req, body, wantService): the access key id when the signature is
// right (and whether a session token came), else throws why not.
function check(req, body, wantService) {
  const h = headerValues(req.rawHeaders)
  const one = (name) => {
    const v = h.get(name)
    if (!v) return null
    if (v.length > 1) throw new Error(`header ${name} sent ${v.length} times`)
    return v[0]
  }
  const qpos = req.url.indexOf('?')
  const rawPath = qpos < 0 ? req.url : req.url.slice(0, qpos)
  const rawQuery = qpos < 0 ? '' : req.url.slice(qpos + 1)
  if (/(^|&)X-Amz-(Algorithm|Signature)=/.test(rawQuery)) throw new Error('query-string signing is not expected')

  const auth = one('authorization')
  if (!auth) throw new Error('no Authorization header')
  const m = /^AWS4-HMAC-SHA256 +Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]{64})\s*$/.exec(auth)
  if (!m) throw new Error(`malformed Authorization header: ${auth.replace(/Signature=\S+/, 'Signature=...')}`)
  const [, credential, signedList, signature] = m
  const scopeParts = credential.split('/')
  if (scopeParts.length !== 5) throw new Error(`malformed Credential ${credential}`)
  const [keyId, date, region, service, terminator] = scopeParts
  const { secret, token } = keyOf(keyId)
  if (region !== args.region) throw new Error(`region ${region} in the scope, expected ${args.region}`)
  if (service !== wantService) throw new Error(`service ${service} in the scope, expected ${wantService}`)
  if (terminator !== 'aws4_request') throw new Error(`scope ends with ${terminator}`)

  const amzDate = one('x-amz-date')
  if (!amzDate) throw new Error('no X-Amz-Date header')
  const dm = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate)
  if (!dm) throw new Error(`malformed X-Amz-Date ${amzDate}`)
  if (amzDate.slice(0, 8) !== date) throw new Error(`scope date ${date} is not the date of X-Amz-Date ${amzDate}`)
  const when = Date.UTC(+dm[1], +dm[2] - 1, +dm[3], +dm[4], +dm[5], +dm[6])
  if (Math.abs(Date.now() - when) > MAX_SKEW_MS) throw new Error(`X-Amz-Date ${amzDate} is more than 5 minutes off`)

  const signed = signedList.split(';')
  for (let i = 0; i < signed.length; i++) {
    if (signed[i] === '' || signed[i] !== signed[i].toLowerCase()) throw new Error(`bad SignedHeaders ${signedList}`)
    if (i > 0 && signed[i - 1] >= signed[i]) throw new Error(`SignedHeaders not sorted and unique: ${signedList}`)
  }
  for (const name of signed) {
    if (!h.has(name)) throw new Error(`signed header ${name} was not sent`)
  }
  for (const name of ['host', 'x-amz-date']) {
    if (!signed.includes(name)) throw new Error(`${name} is not signed`)
  }
  for (const name of h.keys()) {
    if (name.startsWith('x-amz-') && !signed.includes(name)) throw new Error(`${name} is sent but not signed`)
  }

  const sentToken = one('x-amz-security-token')
  if (token) {
    if (sentToken === null) throw new Error('no X-Amz-Security-Token, though the credentials have a session token')
    if (sentToken !== token) throw new Error('X-Amz-Security-Token is not the session token')
  } else if (sentToken !== null) {
    throw new Error('X-Amz-Security-Token sent, though the credentials have no session token')
  }

  const payloadHash = sha256hex(body)
  const declared = one('x-amz-content-sha256')
  if (declared !== null && declared !== payloadHash) {
    throw new Error(`X-Amz-Content-Sha256 ${declared} is not the hash of the ${body.length}-byte body`)
  }

  const canonicalHeaders = signed.map((name) => `${name}:${canonicalValue(h.get(name))}\n`).join('')
  const canonicalRequest = [req.method, canonicalUri(rawPath), canonicalQuery(rawQuery),
    canonicalHeaders, signedList, payloadHash].join('\n')
  const scope = `${date}/${region}/${service}/aws4_request`
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(canonicalRequest)].join('\n')
  let key = hmac('AWS4' + secret, date)
  key = hmac(key, region)
  key = hmac(key, service)
  key = hmac(key, 'aws4_request')
  const expected = crypto.createHmac('sha256', key).update(stringToSign).digest('hex')
  if (expected !== signature) {
    const shown = canonicalRequest.replace(/\n[0-9a-f]{64}$/, `\n<sha256 of ${body.length} bytes>`)
    throw new Error(`signature mismatch; the canonical request here is:\n${shown}`)
  }
  return { keyId, withToken: sentToken !== null }
}

// issueKey(seed): a temporary key derived from seed (the same seed, the
// same key), added to the key table.
function issueKey(seed, lifeSeconds) {
  const id = 'ASIA' + crypto.createHash('sha256').update(seed).digest('hex').slice(0, 16).toUpperCase()
  const key = { id, secret: crypto.createHash('sha256').update('secret ' + id).digest('hex').slice(0, 40),
    token: 'token-' + id }
  const table = JSON.parse(fs.readFileSync(args.keys, 'utf8'))
  table[id] = { secret: key.secret, token: key.token,
    expires: lifeSeconds ? Date.now() + lifeSeconds * 1000 : null }
  common.writeAtomic(args.keys, JSON.stringify(table, null, 1) + '\n')
  return key
}

const xmlEscape = (v) => String(v).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

// STS AssumeRole, answered here (--sts).
function assumeRole(res, form, sourceKeyId) {
  const role = form.get('RoleArn')
  const session = form.get('RoleSessionName')
  const external = form.get('ExternalId')
  const duration = Number(form.get('DurationSeconds') || 3600)
  const stsError = (code, message) => {
    res.writeHead(400, { 'Content-Type': 'text/xml' })
    res.end(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>` +
      `<Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>0</RequestId></ErrorResponse>`)
  }
  if (form.get('Version') !== '2011-06-15') return stsError('InvalidAction', 'Version 2011-06-15 expected')
  if (!role || !/^arn:aws:iam::\d{12}:role\//.test(role)) return stsError('ValidationError', 'bad RoleArn')
  if (!session || !/^[\w+=,.@-]{2,64}$/.test(session)) return stsError('ValidationError', 'bad RoleSessionName')
  if (!(duration >= 900 && duration <= 43200)) return stsError('ValidationError', 'bad DurationSeconds')
  if (form.get('SerialNumber') && !/^\d{6}$/.test(form.get('TokenCode') || '')) {
    return stsError('AccessDenied', 'MultiFactorAuthentication failed: no TokenCode')
  }
  const life = args['sts-life'] ? Number(args['sts-life']) : duration
  const key = issueKey(`${role}|${sourceKeyId}|${external || ''}`, life)
  const id = key.id
  stats.assumed.push({ role, source: sourceKeyId, external_id: external || null, session,
    duration: form.get('DurationSeconds') ? duration : null, mfa: form.get('SerialNumber') || null })
  saveStats()
  const expiration = new Date(Date.now() + life * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
  res.writeHead(200, { 'Content-Type': 'text/xml' })
  res.end(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n` +
    `  <AssumeRoleResult>\n    <AssumedRoleUser><AssumedRoleId>AROA0:${xmlEscape(session)}</AssumedRoleId>` +
    `<Arn>${xmlEscape(role)}/${xmlEscape(session)}</Arn></AssumedRoleUser>\n` +
    `    <Credentials>\n      <AccessKeyId>${id}</AccessKeyId>\n` +
    `      <SecretAccessKey>${key.secret}</SecretAccessKey>\n      <SessionToken>${key.token}</SessionToken>\n` +
    `      <Expiration>${expiration}</Expiration>\n    </Credentials>\n  </AssumeRoleResult>\n` +
    `  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>\n</AssumeRoleResponse>\n`)
}

// The portal's GetRoleCredentials (--sso).
function ssoRoleCredentials(req, res) {
  const u = new URL(req.url, 'http://x')
  const account = u.searchParams.get('account_id')
  const role = u.searchParams.get('role_name')
  const tok = req.headers['x-amz-sso_bearer_token']
  const tokens = JSON.parse(fs.readFileSync(args.sso, 'utf8'))
  if (!tok || !tokens[tok]) {
    stats.sso_refused++
    saveStats()
    return common.replyJson(res, 401, { message: 'Session token not found or invalid' },
      { 'x-amzn-ErrorType': 'UnauthorizedException' })
  }
  if (!/^\d{12}$/.test(account || '') || !role) {
    return common.replyJson(res, 400, { message: 'bad account_id or role_name' },
      { 'x-amzn-ErrorType': 'InvalidRequestException' })
  }
  const key = issueKey(`sso|${account}|${role}`)
  stats.sso.push({ account, role })
  saveStats()
  common.replyJson(res, 200, { roleCredentials: { accessKeyId: key.id, secretAccessKey: key.secret,
    sessionToken: key.token, expiration: Date.now() + 3600e3 } })
}

async function handle(req, res) {
  if (args.sso && req.method === 'GET' && req.url.startsWith('/federation/credentials')) {
    return ssoRoleCredentials(req, res)
  }
  let body
  try {
    body = await common.readBody(req)
  } catch (err) {
    return // the client went away
  }
  stats.checked++
  const isSts = args.sts && !req.headers['x-amz-target'] && /(^|&)Action=/.test(body.toString('latin1'))
  let withToken, keyId
  try {
    ({ withToken, keyId } = check(req, body, isSts ? 'sts' : args.service))
  } catch (err) {
    stats.mismatches++
    const target = req.headers['x-amz-target'] || '?'
    const why = `${target}: ${err.message}`
    if (stats.reasons.length < 20) stats.reasons.push(why)
    common.log(NAME, `MISMATCH ${why}`)
    saveStats()
    return common.replyJson(res, 403, { __type: 'InvalidSignatureException',
      message: `kfs sigv4-proxy: ${err.message.split('\n')[0]}` })
  }
  stats.accepted++
  stats.keys[keyId] = (stats.keys[keyId] || 0) + 1
  if (isSts) {
    const form = new URLSearchParams(body.toString('utf8'))
    if (form.get('Action') !== 'AssumeRole') {
      saveStats()
      res.writeHead(400, { 'Content-Type': 'text/xml' })
      return res.end('<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>')
    }
    return assumeRole(res, form, keyId)
  }
  stats.kinesis_keys[keyId] = (stats.kinesis_keys[keyId] || 0) + 1
  if (withToken) stats.with_token++
  stats.max_body = Math.max(stats.max_body, body.length)
  const action = String(req.headers['x-amz-target'] || '').split('.')[1] || '?'
  stats.actions[action] = (stats.actions[action] || 0) + 1
  saveStats()
  try {
    const up = await common.forward(upstream, req, body)
    common.reply(res, up.status, up.headers, up.body)
  } catch (err) {
    stats.forward_errors++
    saveStats()
    common.log(NAME, `upstream failed: ${err.message}`)
    res.destroy()
  }
}

saveStats()
const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    common.log(NAME, `internal error: ${err.stack}`)
    process.exit(4)
  })
})
// Large PutRecords bodies take a while on a busy machine.
server.requestTimeout = 120000
common.listen(server, args['port-file'], NAME)
common.watchParent(Number(args['parent-pid'] || 0), NAME)
function stop() {
  saveStats()
  common.log(NAME, `checked ${stats.checked} requests, ${stats.mismatches} mismatches`)
  process.exit(stats.mismatches ? 1 : 0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
