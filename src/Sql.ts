// The database: one SqlClient for both deployments (real PostgreSQL, or embedded PGlite served
// over the wire protocol to the same client), and the migrations that run at start.
import { SqlClient } from "@effect/sql"
import * as Migrator from "@effect/sql/Migrator"
import { PgClient } from "@effect/sql-pg"
import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import { Effect, Layer, Option, Redacted } from "effect"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { AppConfig } from "./Config.ts"

const migrationsDir = fileURLToPath(new URL("../migrations", import.meta.url))

/** Loads `NNNN_name.sql` files; each runs as one statement batch inside the migrator's transaction. */
export const sqlFileLoader = (dir: string): Migrator.Loader =>
  Effect.try({
    try: () =>
      Fs.readdirSync(dir)
        .flatMap((file) => {
          const m = /^(\d+)_(.+)\.sql$/.exec(file)
          if (!m) return []
          const load = Effect.sync(() =>
            Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(Fs.readFileSync(NodePath.join(dir, file), "utf8")).raw)
          )
          return [[Number(m[1]), m[2]!, load] as const]
        })
        .sort((a, b) => a[0] - b[0]),
    catch: (cause) => new Migrator.MigrationError({ reason: "import-error", message: `cannot read ${dir}`, cause })
  })

const runMigrations = Migrator.make({})({ loader: sqlFileLoader(migrationsDir), table: "schema_migrations" })

/**
 * Migrates; safe when several replicas start at once on an empty database. The Migrator creates its
 * table after a check that two processes can pass together (the second CREATE then fails), so the
 * table is made here first, under a transaction-scoped advisory lock; the Migrator's own table lock
 * then serialises the migrations themselves.
 */
export const migrate = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`SELECT pg_advisory_xact_lock(hashtext('trainer-run:schema_migrations'))`.pipe(
    Effect.zipRight(sql`CREATE TABLE IF NOT EXISTS schema_migrations (
      migration_id integer primary key,
      created_at timestamp with time zone not null default now(),
      name text not null
    )`),
    sql.withTransaction
  )
  return yield* runMigrations
})

/** Refuses a second process on the same embedded data directory (PGlite has one writer). */
const lockDataDir = (dir: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const lock = NodePath.join(dir, "pid.lock")
        try {
          Fs.writeFileSync(lock, String(process.pid), { flag: "wx" })
        } catch {
          const other = Number(Fs.readFileSync(lock, "utf8"))
          let alive = false
          try {
            alive = other > 0 && other !== process.pid && (process.kill(other, 0), true)
          } catch {
            alive = false
          }
          if (alive) throw new Error(`DATA_DIR ${dir} is in use by process ${other}; stop it or choose another DATA_DIR`)
          Fs.writeFileSync(lock, String(process.pid))
        }
        return lock
      },
      catch: (e) => e as Error
    }),
    (lock) => Effect.sync(() => Fs.rmSync(lock, { force: true }))
  )

/** PGlite in `DATA_DIR/pg`, served on a loopback port chosen by the OS. */
const embedded = (dataDir: string) =>
  Layer.unwrapScoped(
    Effect.gen(function*() {
      const dir = NodePath.resolve(dataDir)
      Fs.mkdirSync(NodePath.join(dir, "pg"), { recursive: true })
      yield* lockDataDir(dir).pipe(Effect.orDie)
      const db = yield* Effect.acquireRelease(
        Effect.promise(() => PGlite.create(NodePath.join(dir, "pg"))),
        (db) => Effect.promise(() => db.close()).pipe(Effect.ignore)
      )
      // A Unix socket in a directory only this user can open, so other local users cannot reach the
      // password-less database; a loopback port when the path would exceed the socket path limit.
      const socketDir = NodePath.join(dir, "run")
      const socketPath = NodePath.join(socketDir, ".s.PGSQL.5432")
      const useSocket = process.platform !== "win32" && Buffer.byteLength(socketPath) < 100
      if (useSocket) {
        Fs.mkdirSync(socketDir, { recursive: true, mode: 0o700 })
        Fs.chmodSync(socketDir, 0o700)
        Fs.rmSync(socketPath, { force: true })
      }
      const server = new PGLiteSocketServer(
        useSocket ? { db, path: socketPath, maxConnections: 4 } : { db, host: "127.0.0.1", port: 0, maxConnections: 4 }
      )
      yield* Effect.acquireRelease(
        Effect.promise(() => server.start()),
        () => Effect.promise(() => server.stop()).pipe(Effect.ignore)
      )
      const [host, port] = useSocket ? [socketDir, "5432"] : server.getServerConn().split(":")
      yield* Effect.logDebug(`embedded PostgreSQL (PGlite) on ${server.getServerConn()}`)
      return PgClient.layer({
        host: host!,
        port: Number(port),
        username: "postgres",
        database: "postgres",
        // ONE connection: the socket server queues protocol messages, not whole extended-protocol
        // exchanges, so two connections' Parse/Bind/Execute interleave on PGlite's single backend
        // and queries answer each other (seen: a dataset lookup returning no row under 8 clients).
        maxConnections: 1,
        applicationName: "trainer-run"
      })
    })
  )

export const SqlLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    Option.match(config.databaseUrl, {
      onNone: () => embedded(config.dataDir),
      onSome: (url) =>
        PgClient.layer({ url: Redacted.make(Redacted.value(url)), maxConnections: 10, applicationName: "trainer-run" })
    })
  )
)

/** The database, migrated. */
export const DatabaseLive = Layer.effectDiscard(migrate.pipe(Effect.orDie)).pipe(Layer.provideMerge(SqlLive))
