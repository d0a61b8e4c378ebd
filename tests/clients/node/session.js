// session.js: node-postgres's scripted session through a conmgr port (contract in ../README.md).
'use strict'
const crypto = require('crypto')
const { Readable } = require('stream')
const { pipeline } = require('stream/promises')
const pg = require('pg')
const copyStreams = require('pg-copy-streams')

const [host, port, role, client] = process.argv.slice(2)
const config = { host, port: Number(port), user: process.env.PGUSER || 'postgres', database: 'postgres', connectionTimeoutMillis: 10000 }
// TLS as libpq's environment asks (the TLS matrix sets PGSSLROOTCERT): verify the certificate against that CA only.
if (process.env.PGSSLROOTCERT) config.ssl = { ca: require('fs').readFileSync(process.env.PGSSLROOTCERT), rejectUnauthorized: true }
const readWrite = role === 'read-write'
const BIG = 'select g, repeat(md5(g::text), 30) from generate_series(1, 105000) g'

const step = (name, detail) => console.log(`step ${name} ${detail}`)
const scalar = async (c, text, values) => Object.values((await c.query({ text, values, rowMode: 'object' })).rows[0])[0]
async function sqlState (action) {
  try {
    await action()
  } catch (e) {
    if (e.code) return e.code
    throw e
  }
  throw new Error('expected an error, got none')
}
async function connect () {
  const c = new pg.Client(config)
  await c.connect()
  return c
}

async function main () {
  const conn = await connect()
  const watcher = await connect()
  step('query', `recovery=${await scalar(conn, 'select pg_is_in_recovery()')}`)

  if (readWrite) {
    await conn.query('begin')
    await conn.query('insert into client_matrix values ($1, 1), ($1, 2), ($1, 3)', [client])
    await conn.query('rollback')
    await conn.query('begin')
    await conn.query('insert into client_matrix values ($1, 1), ($1, 2)', [client])
    await conn.query('commit')
    step('transaction', `committed=${await scalar(conn, 'select count(*) from client_matrix where client = $1', [client])}`)
  } else {
    await conn.query('begin')
    await conn.query('select count(*) from client_matrix')
    const state = await sqlState(() => conn.query('insert into client_matrix values ($1, 1)', [client]))
    await conn.query('rollback')
    step('transaction', `write=${state}`)
  }

  // A named query: Parse once under that name, then Bind/Execute on every run.
  const doubled = []
  for (const v of [1, 2, 3]) {
    const r = await conn.query({ name: 'doubled', text: 'select $1::int * 2 as d', values: [v] })
    doubled.push(r.rows[0].d)
  }
  step('prepared', doubled.join(','))

  let text = ''
  const out = conn.query(copyStreams.to('copy (select g from generate_series(1, 1000) g) to stdout'))
  for await (const chunk of out) text += chunk.toString()
  const lines = text.trim().split('\n')
  step('copy_out', `rows=${lines.length} sum=${lines.reduce((s, x) => s + Number(x), 0)}`)

  let rows = ''
  for (let i = 1001; i <= 2000; i++) rows += `${client}\t${i}\n`
  const copyIn = () => pipeline(Readable.from([rows]), conn.query(copyStreams.from('copy client_matrix from stdin')))
  if (readWrite) {
    await copyIn()
    step('copy_in', `rows=${await scalar(conn, 'select count(*) from client_matrix where client = $1 and id > 1000', [client])}`)
  } else {
    step('copy_in', `refused=${await sqlState(copyIn)}`)
  }

  // node-postgres's own cancel (a new Client's cancel(client, query)), once the server reports the query running.
  const pid = await scalar(conn, 'select pg_backend_pid()')
  const sleeping = new pg.Query('select pg_sleep(30)')
  const running = sqlState(() => new Promise((resolve, reject) => {
    conn.query(sleeping)
    sleeping.on('end', resolve)
    sleeping.on('error', reject)
  }))
  const deadline = Date.now() + 30000
  while (Date.now() < deadline) {
    const active = await scalar(watcher, "select count(*) from pg_stat_activity where pid = $1 and state = 'active' and query like 'select pg_sleep%'", [pid])
    if (Number(active) === 1) break
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  // Wait for the cancel connection's close too, as libpq, pgjdbc and Npgsql do: PostgreSQL 15
  // signals the backend twice (its pid, then its process group), and the server closes (conmgr
  // passes the close on) only after both. A client that goes on sooner can have its next statement
  // hit by the second signal, which is what node-postgres's cancel() alone allows.
  const canceller = new pg.Client(config)
  const cancelClosed = new Promise(resolve => canceller.connection.once('end', resolve))
  canceller.cancel(conn, sleeping)
  const state = await running
  await cancelClosed
  step('cancel', (await scalar(conn, 'select 1 as one')) === 1 ? state : 'session-lost')

  const digest = crypto.createHash('sha256')
  let size = 0
  const big = await conn.query({ text: BIG, rowMode: 'array' })
  for (const [g, t] of big.rows) {
    const row = Buffer.from(`${g}|${t}\n`)
    size += row.length
    digest.update(row)
  }
  step('big', `${size} ${digest.digest('hex')}`)

  if (readWrite) {
    const listener = await connect()
    const received = new Promise(resolve => listener.on('notification', n => resolve(n.payload)))
    await listener.query(`listen cm_${client}`)
    await watcher.query(`notify cm_${client}, 'hello'`)
    const timeout = new Promise(resolve => setTimeout(() => resolve('none'), 30000).unref())
    step('notify', await Promise.race([received, timeout]))
    await listener.end()
  }
  await watcher.end()
  await conn.end()
}

main().catch(e => { console.error(e); process.exit(1) })
