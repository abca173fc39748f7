import { HttpClientRequest } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import pg from "pg"
import { Replay } from "../src/Scheduler/Replay.ts"
import { deployments, postgresS3, testServer } from "./support/Deployments.ts"
import { expectProblem, get, send, uploadRaw } from "./support/Http.ts"

const post = (path: string, body: unknown) =>
  send(HttpClientRequest.post(path).pipe(HttpClientRequest.bodyText(JSON.stringify(body), "application/json")))

const csv = "x,y\n" + Array.from({ length: 30 }, (_, i) => `${i},${i * 3 + (i % 4)}`).join("\n") + "\n"

for (const deployment of deployments) {
  layer(testServer(deployment, { MAX_ATTEMPTS: "2" }), { excludeTestServices: true, timeout: "120 seconds" })(`workers on ${deployment.name}`, (it) => {
    const submit = (seed: number) =>
      Effect.gen(function*() {
        const dataset = (yield* uploadRaw(csv, "text/csv", "tiny")).body.dataset_id
        const reply = yield* post("/v1/trainer/run", { dataset_id: dataset, task: { type: "regression", target: "y" }, models: ["xgboost"], n_trials: 2, seed })
        expect(reply.status).toBe(200)
        return reply.body.job_id as string
      })

    it.effect("a simulated worker drives a job from the API alone to succeeded, and the events tell the story", () =>
      Effect.gen(function*() {
        const jobId = yield* submit(1)
        // Only prepare is ready: a worker that cannot run it gets nothing.
        expect((yield* post("/v1/workers/lease", { worker_id: "w-tabm", capabilities: ["fit:tabm"], max_nodes: 5 })).body.leases).toEqual([])
        const order: Array<string> = []
        for (let round = 0; round < 10; round++) {
          const { leases } = (yield* post("/v1/workers/lease", { worker_id: "w1", capabilities: null, max_nodes: 10 })).body
          if (leases.length === 0) break
          for (const l of leases) {
            expect(l).toMatchObject({ job_id: jobId, trainer: { uri: expect.any(String), sha256: expect.any(String) } })
            const done = yield* post(`/v1/nodes/${l.node_id}/complete`, { lease_token: l.lease_token, result: { uri: `file:///results/${l.node_id}` } })
            expect(done.status, JSON.stringify(done.body)).toBe(200)
            order.push(l.kind)
          }
        }
        expect(order).toEqual(["prepare", "fit", "fit", "select", "refit", "finalize"])
        const job = (yield* get(`/v1/jobs/${jobId}`)).body
        expect(job.status).toBe("succeeded")
        expect(job.nodes).toMatchObject({ total: 6, succeeded: 6 })
        const events = (yield* get(`/v1/jobs/${jobId}/events?limit=500`)).body.items
        expect(events.map((e: any) => e.stream_version)).toEqual(events.map((_: unknown, i: number) => i + 1))
        expect(events[0].type).toBe("JobSubmitted")
        expect(events.at(-1).type).toBe("JobSucceeded")
        expect(events.filter((e: any) => e.type === "NodeLeased")).toHaveLength(6)
        expect(events.filter((e: any) => e.type === "NodeSucceeded")).toHaveLength(6)
        // The graph as a picture, with the statuses.
        const dot = yield* get(`/v1/jobs/${jobId}/graph?format=dot`)
        expect(dot.status).toBe(200)
        expect(dot.contentType).toMatch(/^text\/plain/)
        expect(dot.body).toContain(`[label="fit xgboost ×2\\n2 succeeded", fillcolor="#c8e6c9"]`)
        const mermaid = (yield* get(`/v1/jobs/${jobId}/graph`)).body as string
        expect(mermaid.split("\n")[0]).toBe("flowchart LR")
        expectProblem(yield* get(`/v1/jobs/${jobId}/graph?format=png`), 400, "/query/format")
        expectProblem(yield* get(`/v1/jobs/job_nope/graph`), 404)
        // Leases by state, for operators.
        const metrics = (yield* get("/metrics")).body as string
        expect(metrics).toMatch(/node_events_total\{type="NodeLeased"\} \d+/)
        expect(metrics).toMatch(/node_events_total\{type="NodeSucceeded"\} \d+/)
        // A succeeded job is a model to distil from (teacher_model_id).
        const dataset = job.dataset_id
        const student = yield* post("/v1/trainer/run", { dataset_id: dataset, task: { type: "regression", target: "y" }, models: ["xgboost"], n_trials: 1, teacher_model_id: jobId })
        expect(student.status, JSON.stringify(student.body)).toBe(200)
        const graph = (yield* get(`/v1/jobs/${student.body.job_id}`)).body.graph.by_kind
        expect(graph).toMatchObject({ synth: 1, teacher_predict: 1 })
        const [teacherNode] = (yield* get(`/v1/jobs/${student.body.job_id}/nodes?kind=teacher_predict`)).body.items
        expect(teacherNode).toMatchObject({ requires: "teacher_predict", params: { teacher: { kind: "model", model_id: jobId } } })
        expect((yield* post(`/v1/jobs/${student.body.job_id}/cancel`, {})).body.status).toBe("cancelled")
      }))

    it.effect("a stale or foreign lease token is a 409 and changes nothing; retries back off; a final failure fails the job", () =>
      Effect.gen(function*() {
        const jobId = yield* submit(2)
        const [prep] = (yield* post("/v1/workers/lease", { worker_id: "w2", capabilities: ["prepare"], max_nodes: 1 })).body.leases
        expect(prep.job_id).toBe(jobId)
        expectProblem(yield* post(`/v1/nodes/${prep.node_id}/complete`, { lease_token: "forged", result: null }), 409, "stale or foreign")
        expectProblem(yield* post(`/v1/nodes/${prep.node_id}/heartbeat`, { lease_token: "forged" }), 409)
        expectProblem(yield* post(`/v1/nodes/${jobId}.nope/complete`, { lease_token: "x", result: null }), 404)
        expectProblem(yield* post(`/v1/nodes/${prep.node_id}/complete`, { lease_tokn: prep.lease_token }), 422, "/lease_tokn")
        const beat = yield* post(`/v1/nodes/${prep.node_id}/heartbeat`, { lease_token: prep.lease_token })
        expect(beat.body).toMatchObject({ cancel: false, expires_at: expect.any(String) })
        let nodes = (yield* get(`/v1/jobs/${jobId}/nodes?kind=prepare`)).body.items
        expect(nodes[0]).toMatchObject({ status: "leased", attempts: 1 })
        // A retryable failure returns the node to ready after a backoff; it is not leasable before then.
        const failed = yield* post(`/v1/nodes/${prep.node_id}/fail`, { lease_token: prep.lease_token, error: { message: "worker OOM", retryable: true } })
        expect(failed.body.status).toBe("retry_scheduled")
        expectProblem(yield* post(`/v1/nodes/${prep.node_id}/complete`, { lease_token: prep.lease_token, result: null }), 409)
        nodes = (yield* get(`/v1/jobs/${jobId}/nodes?kind=prepare`)).body.items
        expect(nodes[0].status).toBe("ready")
        expect((yield* post("/v1/workers/lease", { worker_id: "w2", capabilities: ["prepare"], max_nodes: 1 })).body.leases).toEqual([])
        // Skip the backoff's wait (its length is the server's; the test only needs it over).
        const sql = yield* SqlClient.SqlClient
        yield* sql`UPDATE computation_node SET ready_at = now() WHERE node_id = ${prep.node_id}`
        const [again] = (yield* post("/v1/workers/lease", { worker_id: "w3", capabilities: ["prepare"], max_nodes: 1 })).body.leases
        expect(again.node_id).toBe(prep.node_id)
        const final = yield* post(`/v1/nodes/${again.node_id}/fail`, { lease_token: again.lease_token, error: { message: "bad data", retryable: true } })
        expect(final.body.status).toBe("failed")
        const job = (yield* get(`/v1/jobs/${jobId}`)).body
        expect(job.status).toBe("failed")
        expect(job.result.reason).toContain("bad data")
      }))

    it.effect("an expired lease goes back to ready: the old holder's result is refused, the new holder's accepted", () =>
      Effect.gen(function*() {
        const jobId = yield* submit(3)
        const [first] = (yield* post("/v1/workers/lease", { worker_id: "slow", capabilities: ["prepare"], max_nodes: 1, lease_seconds: 1 })).body.leases
        expect(first.job_id).toBe(jobId)
        yield* Effect.sleep("1200 millis")
        const [second] = (yield* post("/v1/workers/lease", { worker_id: "fast", capabilities: ["prepare"], max_nodes: 1 })).body.leases
        expect(second.node_id).toBe(first.node_id)
        expect(second.lease_token).not.toBe(first.lease_token)
        expectProblem(yield* post(`/v1/nodes/${first.node_id}/complete`, { lease_token: first.lease_token, result: { from: "slow" } }), 409)
        expect((yield* post(`/v1/nodes/${second.node_id}/complete`, { lease_token: second.lease_token, result: { from: "fast" } })).status).toBe(200)
        const [node] = (yield* get(`/v1/jobs/${jobId}/nodes?kind=prepare`)).body.items
        expect(node).toMatchObject({ status: "succeeded", attempts: 2, leased_by: "fast", result: { from: "fast" } })
        const types = (yield* get(`/v1/jobs/${jobId}/events`)).body.items.map((e: any) => e.type)
        expect(types.slice(0, 5)).toEqual(["JobSubmitted", "NodeLeased", "NodeLeaseExpired", "NodeLeased", "NodeSucceeded"])
      }))

    it.effect("cancelling stops new leases, tells the running worker, and ends the job cancelled", () =>
      Effect.gen(function*() {
        const jobId = yield* submit(4)
        const [held] = (yield* post("/v1/workers/lease", { worker_id: "w", capabilities: ["prepare"], max_nodes: 1 })).body.leases
        expect(held.job_id).toBe(jobId)
        const cancelling = yield* post(`/v1/jobs/${jobId}/cancel`, {})
        expect(cancelling.status).toBe(200)
        expect(cancelling.body.status).toBe("cancelling")
        expect((yield* post(`/v1/nodes/${held.node_id}/heartbeat`, { lease_token: held.lease_token })).body.cancel).toBe(true)
        expect((yield* post("/v1/workers/lease", { worker_id: "w", capabilities: null, max_nodes: 10 })).body.leases.filter((l: any) => l.job_id === jobId)).toEqual([])
        expect((yield* post(`/v1/nodes/${held.node_id}/complete`, { lease_token: held.lease_token, result: null })).status).toBe(200)
        const job = (yield* get(`/v1/jobs/${jobId}`)).body
        expect(job.status).toBe("cancelled")
        expect(job.nodes).toMatchObject({ total: 6, succeeded: 1, cancelled: 5 })
        expect((yield* post(`/v1/jobs/${jobId}/cancel`, {})).body.status).toBe("cancelled")
        const types = (yield* get(`/v1/jobs/${jobId}/events`)).body.items.map((e: any) => e.type)
        expect(types).toEqual(["JobSubmitted", "NodeLeased", "JobCancelRequested", "NodeHeartbeat", "NodeSucceeded", "JobCancelled"])
        // Nothing leased: cancelled at once. A finished job cannot be cancelled.
        const idle = yield* submit(5)
        expect((yield* post(`/v1/jobs/${idle}/cancel`, {})).body.status).toBe("cancelled")
        const done = yield* submit(6)
        for (let round = 0; round < 10; round++) {
          const { leases } = (yield* post("/v1/workers/lease", { worker_id: "w", capabilities: null, max_nodes: 10 })).body
          if (leases.length === 0) break
          for (const l of leases) yield* post(`/v1/nodes/${l.node_id}/complete`, { lease_token: l.lease_token, result: null })
        }
        expect((yield* get(`/v1/jobs/${done}`)).body.status).toBe("succeeded")
        expectProblem(yield* post(`/v1/jobs/${done}/cancel`, {}), 409, "already succeeded")
        expectProblem(yield* post(`/v1/jobs/job_nope/cancel`, {}), 404)
      }))

    it.effect("a family whose every trial failed is dropped and said so; the job still succeeds; no family left fails it", () =>
      Effect.gen(function*() {
        const dataset = (yield* uploadRaw(csv, "text/csv", "tiny")).body.dataset_id
        const body = (seed: number) => ({ dataset_id: dataset, task: { type: "regression", target: "y" }, models: ["xgboost", "tabm"], n_trials: 1, seed })
        const drive = (jobId: string, failFamilies: ReadonlyArray<string>) =>
          Effect.gen(function*() {
            for (let round = 0; round < 12; round++) {
              const { leases } = (yield* post("/v1/workers/lease", { worker_id: "w", capabilities: null, max_nodes: 20 })).body
              const mine = leases.filter((l: any) => l.job_id === jobId)
              for (const l of leases.filter((l: any) => l.job_id !== jobId)) yield* post(`/v1/nodes/${l.node_id}/complete`, { lease_token: l.lease_token, result: null })
              if (mine.length === 0 && leases.length === 0) break
              for (const l of mine) {
                if (l.kind === "fit" && failFamilies.includes(l.params.family)) {
                  yield* post(`/v1/nodes/${l.node_id}/fail`, { lease_token: l.lease_token, error: { message: "diverged", retryable: false } })
                } else {
                  yield* post(`/v1/nodes/${l.node_id}/complete`, { lease_token: l.lease_token, result: { ok: true } })
                }
              }
            }
            return (yield* get(`/v1/jobs/${jobId}`)).body
          })
        const partial = (yield* post("/v1/trainer/run", body(7))).body.job_id
        const job = yield* drive(partial, ["xgboost"])
        expect(job.status).toBe("succeeded")
        expect(job.nodes).toMatchObject({ total: 8, succeeded: 5, failed: 1, skipped: 2 })
        const skipped = (yield* get(`/v1/jobs/${partial}/nodes?status=skipped`)).body.items
        expect(skipped.map((n: any) => n.key).sort()).toEqual(["refit.xgboost", "select.xgboost"])
        expect(skipped[0].error.message).toContain("family xgboost dropped")
        const none = (yield* post("/v1/trainer/run", body(8))).body.job_id
        const failed = yield* drive(none, ["xgboost", "tabm"])
        expect(failed.status).toBe("failed")
        expect(failed.result.reason).toContain("no family had a successful trial")
      }))

    it.effect("a job that failed stays failed: late reports are recorded, workers are told to stop, nothing fails it twice", () =>
      Effect.gen(function*() {
        const dataset = (yield* uploadRaw(csv, "text/csv", "tiny")).body.dataset_id
        const jobId = (yield* post("/v1/trainer/run", { dataset_id: dataset, task: { type: "regression", target: "y" }, models: ["xgboost", "tabm"], n_trials: 1, seed: 9 })).body.job_id
        const selects: Array<any> = []
        for (let round = 0; round < 6 && selects.length < 2; round++) {
          const { leases } = (yield* post("/v1/workers/lease", { worker_id: "w", capabilities: null, max_nodes: 10 })).body
          for (const l of leases) {
            if (l.kind === "select") selects.push(l)
            else yield* post(`/v1/nodes/${l.node_id}/complete`, { lease_token: l.lease_token, result: null })
          }
        }
        expect(selects.map((l) => l.job_id)).toEqual([jobId, jobId])
        const [a, b] = selects
        expect((yield* post(`/v1/nodes/${a.node_id}/fail`, { lease_token: a.lease_token, error: { message: "broken select", retryable: false } })).body.status).toBe("failed")
        expect((yield* get(`/v1/jobs/${jobId}`)).body.status).toBe("failed")
        expect((yield* post(`/v1/nodes/${b.node_id}/heartbeat`, { lease_token: b.lease_token })).body.cancel).toBe(true)
        expect((yield* post(`/v1/nodes/${b.node_id}/fail`, { lease_token: b.lease_token, error: { message: "also broken", retryable: true } })).body.status).toBe("failed")
        const job = (yield* get(`/v1/jobs/${jobId}`)).body
        expect(job.status).toBe("failed")
        expect(job.result.reason).toContain("broken select")
        const types = (yield* get(`/v1/jobs/${jobId}/events?limit=500`)).body.items.map((e: any) => e.type)
        expect(types.filter((t: string) => t === "JobFailed")).toHaveLength(1)
        expect(types.at(-1)).toBe("NodeFailed")
        // Nothing is left waiting for a worker: what had not run is skipped, saying why.
        expect(job.nodes.ready ?? 0).toBe(0)
        expect(job.nodes.pending ?? 0).toBe(0)
        const skipped = (yield* get(`/v1/jobs/${jobId}/nodes?status=skipped`)).body.items
        expect(skipped.map((n: any) => n.kind).sort()).toEqual(["finalize", "refit", "refit"])
        expect(skipped[0].error.message).toContain("job failed: node")
      }))

    it.effect("found by a new user: heartbeats keep the granted length, tokens stay secret, bad input is a precise 4xx", () =>
      Effect.gen(function*() {
        const jobId = yield* submit(41)
        // A long lease stays long when heartbeated (it used to drop to LEASE_SECONDS).
        const [l] = (yield* post("/v1/workers/lease", { worker_id: "long", capabilities: ["prepare"], max_nodes: 1, lease_seconds: 600 })).body.leases
        const beat = (yield* post(`/v1/nodes/${l.node_id}/heartbeat`, { lease_token: l.lease_token })).body
        expect(new Date(beat.expires_at).getTime() - Date.now()).toBeGreaterThan(590_000)
        // The token is the holder's credential: the events never show it.
        const events = (yield* get(`/v1/jobs/${jobId}/events`)).body.items
        const leased = events.find((e: any) => e.type === "NodeLeased")
        expect(leased.data).toMatchObject({ node_id: l.node_id, worker_id: "long" })
        expect(JSON.stringify(events)).not.toContain(l.lease_token)
        // No capabilities: nothing to lease, not an error.
        expect((yield* post("/v1/workers/lease", { worker_id: "none", capabilities: [], max_nodes: 1 })).body).toEqual({ leases: [] })
        expectProblem(yield* post("/v1/workers/lease", { worker_id: "w", capabilities: Array.from({ length: 1001 }, (_, i) => `c${i}`), max_nodes: 1 }), 422, "/capabilities")
        expectProblem(yield* post("/v1/workers/lease", { worker_id: "w", capabilities: null, max_nodes: 1, lease_seconds: 999_999 }), 422, "/lease_seconds")
        expectProblem(yield* post("/v1/workers/lease", { worker_id: "w\ud800", capabilities: null, max_nodes: 1 }), 422, "/worker_id")
        const raw = (path: string, text: string) => send(HttpClientRequest.post(path).pipe(HttpClientRequest.bodyText(text, "application/json")))
        expectProblem(yield* raw(`/v1/nodes/${l.node_id}/complete`, `{"lease_token": "${l.lease_token}", "result": {"a": 1e400}}`), 422, "/result/a")
        expectProblem(yield* post(`/v1/nodes/${l.node_id}/fail`, { lease_token: l.lease_token, error: { message: "bad \udfff", retryable: true } }), 422, "/error/message")
        expectProblem(yield* post(`/v1/nodes/${l.node_id}/complete`, { lease_token: l.lease_token }), 422, "/result")
        expectProblem(yield* post(`/v1/nodes/a%00b/heartbeat`, { lease_token: "x" }), 404)
        expect((yield* get(`/v1/jobs?dataset_id=a%00b`)).body).toEqual({ items: [], next_cursor: null })
        expect((yield* get(`/v1/jobs/${jobId}/nodes?kind=a%00b`)).body).toEqual({ items: [], next_cursor: null })
        // Nothing above changed the node.
        expect((yield* post(`/v1/nodes/${l.node_id}/complete`, { lease_token: l.lease_token, result: null })).status).toBe(200)
      }))

    it.effect("replay of a log with leases, successes, retries and failures finds zero differences", () =>
      Effect.gen(function*() {
        const replay = yield* Replay
        const audit = yield* replay.audit()
        expect(audit.differences).toEqual([])
        expect(audit.events).toBeGreaterThan(10)
      }).pipe(Effect.provide(Replay.Default)))
  })
}

// A cancel that commits while a completion is on its way: the completion must see the job as it is
// when it commits (cancelling), not as it was when it started — or the job would stay cancelling.
layer(testServer(postgresS3), { excludeTestServices: true, timeout: "120 seconds" })("completion racing a cancel", (it) => {
  it.effect("a result arriving while the cancel commits ends the job cancelled", () =>
    Effect.gen(function*() {
      const dataset = (yield* uploadRaw(csv, "text/csv", "tiny")).body.dataset_id
      const jobId = (yield* post("/v1/trainer/run", { dataset_id: dataset, task: { type: "regression", target: "y" }, models: ["xgboost"], n_trials: 1, seed: 31 })).body.job_id
      const [held] = (yield* post("/v1/workers/lease", { worker_id: "w", capabilities: ["prepare"], max_nodes: 1 })).body.leases
      expect(held.job_id).toBe(jobId)
      const sql = yield* SqlClient.SqlClient
      const [{ db }] = yield* sql<{ db: string }>`SELECT current_database() AS db`
      const other = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:5432/${db}` })
      // Another replica's cancel, caught between taking the job's lock and committing.
      yield* Effect.promise(async () => {
        await other.connect()
        await other.query("BEGIN")
        const { rows } = await other.query("SELECT version FROM jobs WHERE job_id = $1 FOR UPDATE", [jobId])
        await other.query(
          `INSERT INTO events (stream_id, stream_version, type, schema_version, data, metadata) VALUES ($1, $2, 'JobCancelRequested', 1, $3, '{"tenant":"default"}')`,
          [jobId, rows[0].version + 1, JSON.stringify({ job_id: jobId, at: new Date().toISOString() })]
        )
        await other.query("UPDATE jobs SET status = 'cancelling', version = version + 1 WHERE job_id = $1", [jobId])
      })
      const completing = yield* Effect.fork(post(`/v1/nodes/${held.node_id}/complete`, { lease_token: held.lease_token, result: null }))
      yield* Effect.sleep("500 millis")
      yield* Effect.promise(async () => {
        await other.query("COMMIT")
        await other.end()
      })
      expect((yield* Fiber.join(completing)).status).toBe(200)
      const job = (yield* get(`/v1/jobs/${jobId}`)).body
      expect(job.status).toBe("cancelled")
      const types = (yield* get(`/v1/jobs/${jobId}/events`)).body.items.map((e: any) => e.type)
      expect(types).toEqual(["JobSubmitted", "NodeLeased", "JobCancelRequested", "NodeSucceeded", "JobCancelled"])
    }))
})
