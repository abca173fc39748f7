// Benchmark: trainer-run submissions (HTTP → validate → build → compile → upload → scheduler →
// commit) at 1, 8 and 32 concurrent clients, for a standard run (~100 nodes) and a 10,000-node
// graph, on embedded and on PostgreSQL. Baselines in the same run, on the same database:
// (a) the raw ceiling — the same event + job + node rows inserted by plain SQL, one transaction
// per job, no HTTP, validation or upload; (b) pg-boss 10 inserting one queue job per node.
import { HttpBody, HttpClient } from "@effect/platform"
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { projectJobSubmitted } from "../src/Projection.ts"
import { registerWeather, runBench, startPgBoss, startService, writeResults } from "./Support.ts"
import { freshDatabase } from "../test/support/Deployments.ts"

const LEVELS = (process.env.BENCH_LEVELS ?? "1,8,32").split(",").map(Number)
const QUICK = process.env.BENCH_QUICK === "1"
const work = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "trainer-bench-submit-"))

const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!
}

interface Shape {
  readonly name: string
  readonly body: (datasetId: string, seed: number) => Record<string, unknown>
  readonly count: (clients: number) => number
}

const shapes: ReadonlyArray<Shape> = [
  {
    name: "standard (~100 nodes)",
    body: (dataset_id, seed) => ({
      dataset_id, task: { type: "multiclass", target: "weather" }, models: ["xgboost", "tabm", "tabicl"],
      metrics: ["logloss", "accuracy"], hpo: "random", n_trials: 6, cv_folds: 5, ensemble: true, grid_size: 0.25, seed
    }),
    count: (c) => (QUICK ? c * 2 : Math.max(40, c * 8))
  },
  {
    name: "10,000 nodes",
    body: (dataset_id, seed) => ({
      dataset_id, task: { type: "multiclass", target: "weather" }, models: ["xgboost", "tabm", "xrfm"],
      hpo: "random", n_trials: 333, cv_folds: 10, ensemble: true, seed
    }),
    count: (c) => (QUICK ? c : Math.max(4, c))
  }
]

/** Runs `count` tasks with `clients` in flight; returns throughput and latency percentiles. */
const drive = <E, R>(clients: number, count: number, task: (i: number) => Effect.Effect<unknown, E, R>) =>
  Effect.gen(function*() {
    const latencies: Array<number> = []
    let next = 0
    const t0 = performance.now()
    const worker = Effect.gen(function*() {
      while (next < count) {
        const i = next++
        const t = performance.now()
        yield* task(i)
        latencies.push(performance.now() - t)
      }
    })
    yield* Effect.all(Array.from({ length: clients }, () => worker), { concurrency: "unbounded", discard: true })
    const seconds = (performance.now() - t0) / 1000
    return { jobs: count, per_s: Number((count / seconds).toFixed(1)), p50_ms: Number(percentile(latencies, 50).toFixed(1)), p99_ms: Number(percentile(latencies, 99).toFixed(1)) }
  })

let serial = 0

const measure = (deployment: string, settings: Record<string, string>, pgUrl: string | undefined) =>
  Effect.gen(function*() {
    const { sql, base, close } = yield* startService(settings)
    const client = yield* HttpClient.HttpClient
    const postJson = (path: string, body: unknown) =>
      client.post(`${base}${path}`, { body: HttpBody.unsafeJson(body) }).pipe(
        Effect.flatMap((r) => Effect.map(r.json, (b: any) => {
          if (r.status !== 200) throw new Error(`${path} → ${r.status} ${JSON.stringify(b).slice(0, 300)}`)
          return b
        })),
        Effect.scoped
      )
    const datasetId = yield* registerWeather(base)
    const boss = yield* startPgBoss(pgUrl)

    const rows: Array<Record<string, unknown>> = []
    for (const shape of shapes) {
      const plan = yield* postJson("/v1/trainer/plan?nodes=true", shape.body(datasetId, 1))
      const graph = { version: 1 as const, nodes: plan.graph.nodes }
      const nodes = graph.nodes.length

      /** The raw ceiling: the same rows, plain SQL, one transaction per job. */
      const rawInsert = () => {
        const job_id = `job_${Crypto.randomBytes(16).toString("hex")}`
        const event = {
          _tag: "JobSubmitted" as const, tenant: "default", job_id, dataset_id: datasetId, submitted_at: new Date().toISOString(),
          trainer: { uri: "file:///x", sha256: "x" }, request: shape.body(datasetId, 1), idempotency: null, graph
        }
        const { job, nodes: nodeRows } = projectJobSubmitted(undefined, { event, position: 0 })
        const { _tag, ...data } = event
        return Effect.gen(function*() {
          const [{ position }] = yield* sql<{ position: string }>`INSERT INTO events (stream_id, stream_version, type, data, metadata)
            VALUES (${job_id}, 1, 'JobSubmitted', ${JSON.stringify(data)}::jsonb, '{}'::jsonb) RETURNING position`
          yield* sql`INSERT INTO jobs SELECT * FROM jsonb_populate_recordset(NULL::jobs, ${JSON.stringify([{ ...job, position: Number(position) }])}::jsonb)`
          yield* sql`INSERT INTO computation_node SELECT * FROM jsonb_populate_recordset(NULL::computation_node, ${JSON.stringify(nodeRows)}::jsonb)`
        }).pipe(sql.withTransaction, Effect.orDie)
      }
      const bossInsert = () =>
        Effect.promise(() => boss!.insert(graph.nodes.map((n: any) => ({ name: "nodes", data: { key: n.key, kind: n.kind, params: n.params, deps: n.deps } }))))

      for (const clients of LEVELS) {
        const count = shape.count(clients)
        const service = yield* drive(clients, count, () => postJson("/v1/trainer/run", shape.body(datasetId, ++serial)))
        const raw = yield* drive(clients, count, rawInsert)
        const pgboss = boss ? yield* drive(clients, count, bossInsert) : undefined
        const row = {
          deployment, graph: shape.name, nodes, clients,
          service, raw_ceiling: raw, pg_boss: pgboss ?? null,
          service_vs_raw: Number((service.per_s / raw.per_s).toFixed(2)),
          service_vs_pg_boss: pgboss ? Number((service.per_s / pgboss.per_s).toFixed(2)) : null
        }
        console.error(JSON.stringify(row))
        rows.push(row)
      }
    }
    if (boss) yield* Effect.promise(() => boss.stop({ graceful: false, wait: true }))
    yield* close
    return rows
  })

const program = Effect.gen(function*() {
  const results: Array<Record<string, unknown>> = []
  results.push(...yield* measure("embedded (PGlite)", { DATA_DIR: NodePath.join(work, "embedded") }, undefined))
  results.push(...yield* Effect.scoped(Effect.gen(function*() {
    const db = yield* freshDatabase
    return yield* measure("PostgreSQL", { DATA_DIR: NodePath.join(work, "pg"), DATABASE_URL: db.url }, db.url)
  })))
  const line = (r: any) =>
    `| ${r.deployment} | ${r.graph} | ${r.clients} | ${r.service.per_s} | ${r.service.p50_ms} / ${r.service.p99_ms} | ${r.raw_ceiling.per_s} | ${r.pg_boss ? r.pg_boss.per_s : "n/a"} | ${r.service_vs_raw} | ${r.service_vs_pg_boss ?? "n/a"} |`
  console.log([
    "| deployment | graph | clients | service jobs/s | p50 / p99 ms | raw ceiling jobs/s | pg-boss jobs/s | × raw | × pg-boss |",
    "|---|---|---|---|---|---|---|---|---|",
    ...results.map(line)
  ].join("\n"))
  writeResults("submit", results)
}).pipe(Effect.ensuring(Effect.sync(() => Fs.rmSync(work, { recursive: true, force: true }))))

runBench(program)
