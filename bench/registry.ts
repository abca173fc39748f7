// Benchmark: registering a 1M-row CSV on each deployment, and start-up time of the embedded
// default. Baseline in the same run: DuckDB alone reading every cell of the same file as text
// (the floor of any profiling), so figures are quoted as ratios on this shared, noisy machine.
import { DuckDBInstance } from "@duckdb/node-api"
import { HttpBody, HttpClient, HttpServer } from "@effect/platform"
import { ConfigProvider, Effect, Exit, Layer, Scope } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { AppConfig } from "../src/Config.ts"
import { ServerLive } from "../src/Http.ts"
import { runBench, writeResults } from "./Support.ts"
import { freshBucket, freshDatabase, S3_CREDENTIALS, S3_ENDPOINT } from "../test/support/Deployments.ts"

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000)
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const work = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "trainer-bench-"))
const csv = NodePath.join(work, "big.csv")

let serial = 0
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function makeCsv() {
  const db = await DuckDBInstance.create(":memory:")
  const c = await db.connect()
  await c.run(`COPY (
    SELECT i AS id,
           lpad(CAST(i % 99999 AS VARCHAR), 5, '0') AS zip,
           TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_seconds(i * 37) AS ts,
           DATE '2000-01-01' + CAST(i % 9000 AS INTEGER) AS day,
           round(sin(i) * 100, 3) AS x1, round(cos(i) * 10, 4) AS x2, (i % 1000) / 7.0 AS x3, hash(i) % 100000 AS x4,
           ['red','green','blue','cyan','magenta','yellow','black','white'][1 + i % 8] AS color,
           i % 3 = 0 AS flag
    FROM range(${ROWS}) t(i)) TO '${csv}' (HEADER, DELIMITER ',')`)
  c.closeSync()
  db.closeSync()
}

async function duckdbBaseline() {
  const db = await DuckDBInstance.create(":memory:")
  const c = await db.connect()
  const t = performance.now()
  // Every cell read as text: what any profile must at least do.
  await c.run(`CREATE TABLE cells AS SELECT * FROM read_csv('${csv}', all_varchar = true)`)
  const ms = performance.now() - t
  c.closeSync()
  db.closeSync()
  return ms
}

const withConfig = (settings: Record<string, string>) =>
  ConfigProvider.fromMap(new Map(Object.entries({ PORT: "0", LOG_LEVEL: "Warning", ...settings })))

/** Starts the service (timed), registers the file RUNS times with one changed row each, stops. */
const measure = (name: string, settings: Record<string, string>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const t0 = performance.now()
    const context = yield* Layer.buildWithScope(ServerLive.pipe(Layer.provide(AppConfig.layer)), scope).pipe(
      Effect.withConfigProvider(withConfig(settings))
    )
    const startupMs = performance.now() - t0
    const server = yield* Effect.provide(HttpServer.HttpServer, context)
    const { port } = server.address as HttpServer.TcpAddress
    const client = yield* HttpClient.HttpClient
    const registerMs: Array<number> = []
    for (let run = 0; run < RUNS; run++) {
      // One extra row, different every time, so each registration is new bytes (nothing deduplicated).
      const id = ++serial
      const bytes = Buffer.concat([Fs.readFileSync(csv), Buffer.from(`${ROWS + id},00000,2020-01-01T00:00:00Z,2000-01-01,0,0,0,0,red,true\n`)])
      const t = performance.now()
      const reply = yield* client.post(`http://127.0.0.1:${port}/v1/datasets`, {
        urlParams: { name: `bench-${id}` },
        body: HttpBody.uint8Array(bytes, "text/csv")
      }).pipe(Effect.flatMap((r) => Effect.map(r.json, (b: any) => ({ status: r.status, rows: b?.profile?.rows }))), Effect.scoped)
      registerMs.push(performance.now() - t)
      if (reply.status !== 201 || reply.rows !== ROWS + 1) throw new Error(`${name}: unexpected reply ${JSON.stringify(reply)}`)
    }
    yield* Scope.close(scope, Exit.void)
    return { deployment: name, startup_ms: Math.round(startupMs), register_ms: registerMs.map(Math.round), register_median_ms: Math.round(median(registerMs)) }
  })

const program = Effect.gen(function*() {
  yield* Effect.promise(makeCsv)
  const sizeMb = Fs.statSync(csv).size / 1e6
  const baselines: Array<number> = []
  for (let i = 0; i < RUNS; i++) baselines.push(yield* Effect.promise(duckdbBaseline))
  const baseline = median(baselines)
  const results = []
  const dataDir = NodePath.join(work, "embedded")
  results.push(yield* measure("embedded (PGlite + filesystem), first start", { DATA_DIR: dataDir }))
  const restart = yield* measure("embedded (PGlite + filesystem), restart", { DATA_DIR: dataDir })
  results.push(restart)
  const pg = yield* Effect.scoped(
    Effect.gen(function*() {
      const db = yield* freshDatabase
      const bucket = yield* freshBucket
      return yield* measure("PostgreSQL + S3 (Ceph RGW)", {
        DATA_DIR: NodePath.join(work, "pg"),
        DATABASE_URL: db.url,
        S3_BUCKET: bucket,
        S3_ENDPOINT,
        AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey
      })
    })
  ).pipe(Effect.catchAllDefect((e) => Effect.succeed({ deployment: "PostgreSQL + S3 (Ceph RGW)", error: String(e) })))
  results.push(pg)
  const report = {
    rows: ROWS,
    csv_mb: Number(sizeMb.toFixed(1)),
    runs: RUNS,
    baseline_duckdb_read_ms: Math.round(baseline),
    results: results.map((r: any) => ({ ...r, ...(r.register_median_ms ? { ratio_to_duckdb_read: Number((r.register_median_ms / baseline).toFixed(2)) } : {}) }))
  }
  console.log(JSON.stringify(report, null, 2))
  writeResults("registry", report)
}).pipe(Effect.ensuring(Effect.sync(() => Fs.rmSync(work, { recursive: true, force: true }))))

runBench(program)
