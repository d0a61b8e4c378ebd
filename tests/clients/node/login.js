// login.js: node-postgres logs in through a conmgr port over verified TLS with channel binding enabled, then prints current_user (preauth tests).
// usage: node login.js HOST PORT USER SSLROOTCERT   (the password in PGPASSWORD)
'use strict'
const fs = require('fs')
const pg = require('pg')

const [host, port, user, root] = process.argv.slice(2)
const client = new pg.Client({
  host, port: Number(port), user, password: process.env.PGPASSWORD, database: 'postgres', connectionTimeoutMillis: 10000,
  ssl: { ca: fs.readFileSync(root), rejectUnauthorized: true }, enableChannelBinding: true
})
client.connect()
  .then(() => client.query('select current_user'))
  .then(result => { console.log(result.rows[0].current_user); return client.end() })
  .catch(error => { console.error(`${error.code ?? ''} ${error.message}`); process.exit(1) })
