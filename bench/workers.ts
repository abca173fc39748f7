// Benchmark: the worker protocol and replay, on embedded and on PostgreSQL.
// (1) lease→complete throughput (nodes/s) with 1, 8 and 32 simulated workers driving real jobs
//     over HTTP to the end (readiness propagation included), against, in the same run on the same
//     database: the raw ceiling — the same row changes (lease: node UPDATE + event + job version;
//     complete: node UPDATE + event + job version + dependents made ready) as plain SQL, no HTTP,
//     fencing checks or projection code; and pg-boss 10 fetch/complete of as many queue jobs.
// (2) replay: the audit's fold of the whole log (events/s), and the full audit (fold, scratch
//     tables, diff), against a plain SQL rebuild of the nodes' states from the same log.
import { HttpBody, HttpClient } from "@effect/platform"
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { Replay } from "../src/Scheduler/Replay.ts"
import { freshDatabase } from "../test/support/Deployments.ts"
import { registerWeather, runBench, startPgBoss, startService, writeResults } from "./Support.ts"

const LEVELS = (process.env.BENCH_LEVELS ?? "1,8,32").split(",").map(Number)
const QUICK = process.env.BENCH_QUICK === "1"
const JOBS = QUICK ? 2 : 6
const work = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "trainer-bench-workers-"))

// The demo's run: 3 families × 6 trials × 5 folds, Caruana ensemble, a Pareto sweep (102 nodes).
const runBody = (dataset_id: string, seed: number) => ({
  dataset_id, task: { type: "multiclass", target: "weather" }, models: ["xgboost", "tabm", "tabicl"],
  metrics: ["logloss", "accuracy"], hpo: "random", n_trials: 6, cv_folds: 5, ensemble: true, grid_size: 0.25, seed
})

/** Like the service, the raw ceiling runs a transaction again when PostgreSQL breaks a deadlock. */
const retryDeadlock = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.retry(effect, { while: (e: any) => e?.cause?.code === "40P01", times: 8 })

const rate = (n: number, ms: number) => Number((n / (ms / 1000)).toFixed(1))
let serial = 0

const measure = (deployment: string, settings: Record<string, string>, pgUrl: string | undefined) =>
  Effect.gen(function*() {
    const { context, sql, base, close } = yield* startService(settings)
    const replay = yield* Replay.pipe(Effect.provide(Replay.Default), Effect.provide(context))
    const client = yield* HttpClient.HttpClient
    const postJson = (path: string, body: unknown) =>
      client.post(`${base}${path}`, { body: HttpBody.unsafeJson(body) }).pipe(
        Effect.flatMap((r) => Effect.map(r.json, (b: any) => ({ status: r.status, body: b }))),
        Effect.scoped,
        Effect.orDie
      )
    const dataset = yield* registerWeather(base)
    const submitJobs = Effect.forEach(Array.from({ length: JOBS }), () =>
      postJson("/v1/trainer/run", runBody(dataset, ++serial)).pipe(Effect.map((r) => r.body.job_id as string)))

    const boss = yield* startPgBoss(pgUrl)

    /** `workers` loops at once, each taking one unit of work at a time until `take` says there is none. */
    const race = (workers: number, take: () => Effect.Effect<boolean>) =>
      Effect.gen(function*() {
        const t0 = performance.now()
        const loop = Effect.gen(function*() {
          let idle = 0
          while (idle < 3) {
            if (yield* take()) idle = 0
            else {
              idle++
              yield* Effect.sleep("5 millis")
            }
          }
        })
        yield* Effect.all(Array.from({ length: workers }, () => loop), { concurrency: "unbounded", discard: true })
        return performance.now() - t0
      })

    yield* sql`CREATE SCHEMA bench_raw`
    for (const table of ["events", "jobs", "computation_node"]) {
      yield* sql.unsafe(`CREATE TABLE bench_raw.${table} (LIKE public.${table} INCLUDING DEFAULTS INCLUDING INDEXES INCLUDING CONSTRAINTS)`)
    }
    const rows: Array<Record<string, unknown>> = []
    for (const workers of LEVELS) {
      // The service: simulated workers over HTTP, lease one node, complete it.
      const jobs = yield* submitJobs
      const [{ n: nodes }] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM computation_node WHERE job_id IN ${sql.in(jobs)}`
      const serviceMs = yield* race(workers, () =>
        Effect.gen(function*() {
          const { body } = yield* postJson("/v1/workers/lease", { worker_id: `w${Math.random()}`, capabilities: null, max_nodes: 1 })
          for (const l of body.leases) {
            const done = yield* postJson(`/v1/nodes/${l.node_id}/complete`, { lease_token: l.lease_token, result: { uri: `mem://${l.node_id}` } })
            if (done.status !== 200) return yield* Effect.die(new Error(`complete → ${done.status} ${JSON.stringify(done.body)}`))
          }
          return body.leases.length > 0
        }))
      const [{ open }] = yield* sql<{ open: number }>`SELECT count(*)::int AS open FROM jobs WHERE job_id IN ${sql.in(jobs)} AND status <> 'succeeded'`
      if (open > 0) return yield* Effect.die(new Error(`${open} job(s) did not finish`))

      // The raw ceiling: the same row changes in plain SQL, on copies of another set of the same jobs
      // in a side schema (its events are not domain events; the audited log stays the service's).
      const rawJobs = yield* submitJobs
      yield* sql`INSERT INTO bench_raw.jobs SELECT * FROM jobs WHERE job_id IN ${sql.in(rawJobs)}`
      yield* sql`INSERT INTO bench_raw.computation_node SELECT * FROM computation_node WHERE job_id IN ${sql.in(rawJobs)}`
      // The originals are cancelled (nothing leased: at once), so the service's workers never see them.
      yield* Effect.forEach(rawJobs, (id) => postJson(`/v1/jobs/${id}/cancel`, {}), { discard: true })
      const rawLease = () =>
        Effect.gen(function*() {
          const token = Crypto.randomBytes(24).toString("base64url")
          const leased = yield* sql<{ node_id: string; job_id: string }>`
            UPDATE bench_raw.computation_node SET status = 'leased', lease_token = ${token}, leased_by = 'raw', attempts = attempts + 1,
              lease_expires_at = now() + interval '60 seconds', updated_at = now()
            WHERE node_id = (SELECT node_id FROM bench_raw.computation_node WHERE job_id IN ${sql.in(rawJobs)} AND status = 'ready'
                             ORDER BY ordinal LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING node_id, job_id`
          if (leased.length === 0) return undefined
          const { node_id, job_id } = leased[0]!
          const [{ version }] = yield* sql<{ version: number }>`UPDATE bench_raw.jobs SET version = version + 1, status = 'running' WHERE job_id = ${job_id} RETURNING version`
          yield* sql`INSERT INTO bench_raw.events (stream_id, stream_version, type, data, metadata)
            VALUES (${job_id}, ${version}, 'NodeLeased', ${JSON.stringify({ job_id, node_id, lease_token: token })}::jsonb, '{}'::jsonb)`
          return { node_id, job_id, token }
        }).pipe(sql.withTransaction, retryDeadlock, Effect.orDie)
      const rawComplete = (l: { node_id: string; job_id: string; token: string }) =>
        Effect.gen(function*() {
          yield* sql`SELECT 1 FROM bench_raw.jobs WHERE job_id = ${l.job_id} FOR UPDATE`
          yield* sql`UPDATE bench_raw.computation_node SET status = 'succeeded', result = '{}'::jsonb, lease_token = NULL, updated_at = now()
            WHERE node_id = ${l.node_id} AND lease_token = ${l.token}`
          const [{ version }] = yield* sql<{ version: number }>`UPDATE bench_raw.jobs SET version = version + 1 WHERE job_id = ${l.job_id} RETURNING version`
          yield* sql`INSERT INTO bench_raw.events (stream_id, stream_version, type, data, metadata)
            VALUES (${l.job_id}, ${version}, 'NodeSucceeded', ${JSON.stringify({ job_id: l.job_id, node_id: l.node_id })}::jsonb, '{}'::jsonb)`
          const ready = yield* sql<{ node_id: string }>`
            UPDATE bench_raw.computation_node c SET status = 'ready', updated_at = now()
            WHERE c.job_id = ${l.job_id} AND c.status = 'pending' AND ${l.node_id} = ANY(c.deps)
              AND NOT EXISTS (SELECT 1 FROM unnest(c.deps) d(id) JOIN bench_raw.computation_node x ON x.node_id = d.id WHERE x.status <> 'succeeded')
            RETURNING c.node_id`
          if (ready.length > 0) {
            yield* sql`INSERT INTO bench_raw.events (stream_id, stream_version, type, data, metadata)
              VALUES (${l.job_id}, ${version + 1}, 'NodeReady', ${JSON.stringify({ job_id: l.job_id, node_ids: ready.map((r) => r.node_id) })}::jsonb, '{}'::jsonb)`
            yield* sql`UPDATE bench_raw.jobs SET version = version + 1 WHERE job_id = ${l.job_id}`
          }
        }).pipe(sql.withTransaction, retryDeadlock, Effect.orDie)
      const rawMs = yield* race(workers, () =>
        Effect.gen(function*() {
          const l = yield* rawLease()
          if (!l) return false
          yield* rawComplete(l)
          return true
        }))
      const [{ rawLeft }] = yield* sql<{ rawLeft: number }>`SELECT count(*)::int AS "rawLeft" FROM bench_raw.computation_node WHERE job_id IN ${sql.in(rawJobs)} AND status <> 'succeeded'`
      if (rawLeft > 0) return yield* Effect.die(new Error(`raw ceiling left ${rawLeft} node(s)`))

      // pg-boss: as many queue jobs, fetched and completed one at a time (no dependencies).
      let bossMs: number | undefined
      if (boss) {
        for (let i = 0; i < nodes; i += 1000) {
          yield* Effect.promise(() => boss.insert(Array.from({ length: Math.min(1000, nodes - i) }, (_, k) => ({ name: "nodes", data: { k: i + k } }))))
        }
        bossMs = yield* race(workers, () =>
          Effect.promise(async () => {
            const [job] = await boss.fetch("nodes", { batchSize: 1 })
            if (!job) return false
            await boss.complete("nodes", job.id)
            return true
          }))
      }
      const row = {
        deployment, workers, nodes,
        service_nodes_per_s: rate(nodes, serviceMs),
        raw_nodes_per_s: rate(nodes, rawMs),
        pg_boss_nodes_per_s: bossMs !== undefined ? rate(nodes, bossMs) : null,
        service_vs_raw: Number((rawMs / serviceMs).toFixed(2)),
        service_vs_pg_boss: bossMs !== undefined ? Number((bossMs / serviceMs).toFixed(2)) : null
      }
      console.error(JSON.stringify(row))
      rows.push(row)
    }

    // Replay of the log these runs wrote.
    const t0 = performance.now()
    const folded = yield* replay.rebuild
    const foldMs = performance.now() - t0
    const t1 = performance.now()
    const audit = yield* replay.audit()
    const auditMs = performance.now() - t1
    if (audit.differences.length > 0) return yield* Effect.die(new Error(`audit found ${audit.differences.length} difference(s)`))
    // Plain SQL: every node's state is its last event's, computed by one statement into a table.
    const t2 = performance.now()
    yield* Effect.gen(function*() {
      yield* sql`CREATE TEMP TABLE bench_rebuilt ON COMMIT DROP AS
        SELECT DISTINCT ON (node_id) node_id, type, position FROM (
          SELECT n->>'node_id' AS node_id, e.type, e.position FROM events e, jsonb_array_elements(e.data->'graph'->'nodes') n
            WHERE e.type = 'JobSubmitted'
          UNION ALL SELECT e.data->>'node_id', e.type, e.position FROM events e WHERE e.data ? 'node_id'
          UNION ALL SELECT x, e.type, e.position FROM events e, jsonb_array_elements_text(e.data->'node_ids') x WHERE e.data ? 'node_ids'
        ) s ORDER BY node_id, position DESC`
    }).pipe(sql.withTransaction)
    const plainMs = performance.now() - t2
    const replayRow = {
      deployment, events: folded.events,
      fold_events_per_s: rate(folded.events, foldMs),
      audit_events_per_s: rate(audit.events, auditMs),
      plain_sql_events_per_s: rate(folded.events, plainMs),
      fold_vs_plain: Number((plainMs / foldMs).toFixed(2)),
      audit_vs_plain: Number((plainMs / auditMs).toFixed(2))
    }
    console.error(JSON.stringify(replayRow))
    if (boss) yield* Effect.promise(() => boss.stop({ graceful: false, wait: true }))
    yield* close
    return { leases: rows, replay: replayRow }
  })

const program = Effect.gen(function*() {
  const embedded = yield* measure("embedded (PGlite)", { DATA_DIR: NodePath.join(work, "embedded") }, undefined)
  const postgres = yield* Effect.scoped(Effect.gen(function*() {
    const db = yield* freshDatabase
    return yield* measure("PostgreSQL", { DATA_DIR: NodePath.join(work, "pg"), DATABASE_URL: db.url }, db.url)
  }))
  const leases = [...embedded.leases, ...postgres.leases]
  const replays = [embedded.replay, postgres.replay]
  console.log([
    "| deployment | workers | nodes | service nodes/s | raw ceiling nodes/s | pg-boss nodes/s | × raw | × pg-boss |",
    "|---|---|---|---|---|---|---|---|",
    ...leases.map((r: any) =>
      `| ${r.deployment} | ${r.workers} | ${r.nodes} | ${r.service_nodes_per_s} | ${r.raw_nodes_per_s} | ${r.pg_boss_nodes_per_s ?? "n/a"} | ${r.service_vs_raw} | ${r.service_vs_pg_boss ?? "n/a"} |`
    ),
    "",
    "| deployment | events | fold events/s | audit events/s | plain SQL events/s | fold × plain | audit × plain |",
    "|---|---|---|---|---|---|---|",
    ...replays.map((r) => `| ${r.deployment} | ${r.events} | ${r.fold_events_per_s} | ${r.audit_events_per_s} | ${r.plain_sql_events_per_s} | ${r.fold_vs_plain} | ${r.audit_vs_plain} |`)
  ].join("\n"))
  writeResults("workers", { leases, replays })
}).pipe(Effect.ensuring(Effect.sync(() => Fs.rmSync(work, { recursive: true, force: true }))))

runBench(program)
