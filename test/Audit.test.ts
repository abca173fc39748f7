// The audit: a long randomized run (submissions, idempotent resubmissions, leases, heartbeats,
// completions, retryable and final failures, expired leases, stale tokens, cancels), several actors
// at once, then a replay of the whole log that must find zero differences with the live tables.
import { type HttpClient, HttpClientRequest } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import { Replay } from "../src/Scheduler/Replay.ts"
import { checkLog } from "./support/Invariants.ts"
import { deployments, testServer } from "./support/Deployments.ts"
import { get, send, uploadRaw } from "./support/Http.ts"

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  send(HttpClientRequest.post(path).pipe(HttpClientRequest.setHeaders(headers), HttpClientRequest.bodyText(JSON.stringify(body), "application/json")))

const csv = "x,y,c\n" + Array.from({ length: 60 }, (_, i) => `${i},${i * 3 + (i % 4)},${["a", "b", "c"][i % 3]}`).join("\n") + "\n"

/** A small seeded generator (mulberry32), so a failing run can be replayed by its seed. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const SEED = Number(process.env.AUDIT_SEED ?? 20261203)
const STEPS = Number(process.env.AUDIT_STEPS ?? 240)

interface Held {
  readonly node_id: string
  readonly job_id: string
  readonly lease_token: string
}

for (const deployment of deployments) {
  layer(testServer(deployment, { MAX_ATTEMPTS: "2", LEASE_SWEEP_SECONDS: "1" }), { excludeTestServices: true, timeout: "300 seconds" })(
    `audit on ${deployment.name}`,
    (it) => {
      it.effect(`a randomized run (seed ${SEED}, ${STEPS} steps) replays with zero differences`, () =>
        Effect.gen(function*() {
          const rand = random(SEED)
          const pick = <A>(xs: ReadonlyArray<A>) => xs[Math.floor(rand() * xs.length)]!
          const dataset = (yield* uploadRaw(csv, "text/csv", "audit")).body.dataset_id as string
          const templates = [
            { task: { type: "regression", target: "y" }, models: ["xgboost"], n_trials: 2 },
            { task: { type: "regression", target: "y" }, models: ["xgboost", "tabm"], n_trials: 1, cv_folds: 2 },
            { task: { type: "multiclass", target: "c" }, models: ["tabm", "xgboost"], n_trials: 2, ensemble: true },
            { task: { type: "regression", target: "y" }, models: ["xgboost"], n_trials: 2, hpo: "optuna" }
          ]
          const keys: Array<string> = []
          const jobs = new Set<string>()
          let held: Array<Held> = []
          const stale: Array<Held> = []
          const tally: Record<string, number> = {}
          const count = (what: string, status: number) => {
            tally[`${what} ${status}`] = (tally[`${what} ${status}`] ?? 0) + 1
          }
          const take = () => {
            const i = Math.floor(rand() * held.length)
            const [h] = held.splice(i, 1)
            return h
          }

          const step = (r: number): Effect.Effect<void, never, HttpClient.HttpClient> =>
            Effect.gen(function*() {
              if (r < 0.1 || jobs.size === 0) {
                const reuse = keys.length > 0 && rand() < 0.25
                const key = reuse ? pick(keys) : Crypto.randomUUID()
                if (!reuse) keys.push(key)
                // A key always comes with the same body: a resubmission must answer with the job it made.
                const n = keys.indexOf(key)
                const reply = yield* post("/v1/trainer/run", { dataset_id: dataset, seed: n, ...templates[n % templates.length] }, { "idempotency-key": key })
                count("submit", reply.status)
                expect([200, 201]).toContain(reply.status)
                jobs.add(reply.body.job_id)
              } else if (r < 0.45) {
                const caps = pick([null, null, ["prepare"], ["fit:xgboost", "fit:tabm"], ["select", "refit", "ensemble", "finalize"]])
                const short = rand() < 0.2
                const reply = yield* post("/v1/workers/lease", { worker_id: `w${Math.floor(rand() * 5)}`, capabilities: caps, max_nodes: 1 + Math.floor(rand() * 4), ...(short ? { lease_seconds: 1 } : {}) })
                count("lease", reply.status)
                expect(reply.status).toBe(200)
                held.push(...reply.body.leases.map((l: Held) => ({ node_id: l.node_id, job_id: l.job_id, lease_token: l.lease_token })))
              } else if (r < 0.55 && held.length > 0) {
                const h = held[Math.floor(rand() * held.length)]!
                const reply = yield* post(`/v1/nodes/${h.node_id}/heartbeat`, { lease_token: h.lease_token })
                count("heartbeat", reply.status)
                expect([200, 409]).toContain(reply.status)
                if (reply.status === 409) held = held.filter((x) => x !== h)
              } else if (r < 0.8 && held.length > 0) {
                const h = take()!
                const reply = yield* post(`/v1/nodes/${h.node_id}/complete`, { lease_token: h.lease_token, result: { uri: `s3://results/${h.node_id}` } })
                count("complete", reply.status)
                expect([200, 409]).toContain(reply.status)
                stale.push(h)
              } else if (r < 0.9 && held.length > 0) {
                const h = take()!
                const reply = yield* post(`/v1/nodes/${h.node_id}/fail`, { lease_token: h.lease_token, error: { message: "random failure", retryable: rand() < 0.6 } })
                count("fail", reply.status)
                expect([200, 409]).toContain(reply.status)
                stale.push(h)
              } else if (r < 0.93 && stale.length > 0) {
                // A token already used: fencing refuses it and nothing changes.
                const h = pick(stale)
                const reply = yield* post(`/v1/nodes/${h.node_id}/complete`, { lease_token: h.lease_token, result: { late: true } })
                count("stale", reply.status)
                expect([200, 409]).toContain(reply.status)
              } else if (r < 0.95) {
                const reply = yield* post(`/v1/jobs/${pick([...jobs])}/cancel`, {})
                count("cancel", reply.status)
                expect([200, 409]).toContain(reply.status)
              } else if (r < 0.97) {
                // Let short leases run out; the sweeper or the next lease returns their nodes to ready.
                yield* Effect.sleep("1100 millis")
              } else {
                const reply = yield* get(`/v1/jobs/${pick([...jobs])}/events?limit=500`)
                expect(reply.status).toBe(200)
              }
            }).pipe(Effect.orDie)

          // Mostly three actors at once, so transactions interleave.
          for (let i = 0; i < STEPS; i += 3) {
            const rs = [rand(), rand(), rand()]
            yield* Effect.all(rs.map(step), { concurrency: "unbounded" })
          }
          // Everything observed made it into the log, and the log replays to the same tables.
          yield* Effect.sleep("1500 millis")
          const replay = yield* Replay
          const audit = yield* replay.audit()
          expect(audit.differences).toEqual([])
          const sql = yield* SqlClient.SqlClient
          const events = yield* sql<any>`SELECT stream_id, stream_version, type, data FROM events WHERE stream_id LIKE 'job_%' ORDER BY position`
          const summary = checkLog(events)
          expect(summary.problems).toEqual([])
          // The run covered what it claims to.
          for (const type of ["JobSubmitted", "NodeLeased", "NodeHeartbeat", "NodeSucceeded", "NodeFailed", "NodeRetryScheduled", "NodeLeaseExpired", "NodeReady", "JobCancelRequested", "JobCancelled"]) {
            expect(summary.types[type] ?? 0, `${type} in ${JSON.stringify(summary.types)}; ${JSON.stringify(tally)}`).toBeGreaterThan(0)
          }
          expect(tally["stale 409"] ?? 0).toBeGreaterThan(0)
        }).pipe(Effect.provide(Replay.Default)))
    }
  )
}
