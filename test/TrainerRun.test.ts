import { HttpClientRequest } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as Crypto from "node:crypto"
import { ObjectStore } from "../src/ObjectStore.ts"
import { Secrets } from "../src/Secrets.ts"
import { deployments, testServer } from "./support/Deployments.ts"
import { expectProblem, get, readBytes, send, uploadRaw, vegaFile } from "./support/Http.ts"

const ACME = "tok-acme"
const BETA = "tok-beta"
const settings = { AUTH_TOKENS: `acme=${ACME},beta=${BETA}`, MAX_GRAPH_NODES: "5000", MAX_TRIALS: "300", TEACHER_URL_ALLOWLIST: "teacher.internal" }

/** 60 rows covering every dtype and task shape, written deterministically. */
const crafted = () => {
  const lines = ["id,seq,step,ts,day,x,y,label,cls,flag,zip"]
  for (let i = 0; i < 60; i++) {
    const ts = new Date(Date.UTC(2024, 0, 1, i)).toISOString()
    lines.push([i, `s${i % 6}`, Math.floor(i / 6), ts, `2024-02-${String(1 + (i % 28)).padStart(2, "0")}`, (i * 0.37).toFixed(2),
      (i * 1.5 - 3).toFixed(1), i % 2 === 0 ? "yes" : "no", ["a", "b", "c"][i % 3], i % 4 === 0, String(i).padStart(5, "0")].join(","))
  }
  return lines.join("\n") + "\n"
}

const post = (path: string, body: unknown, token = ACME, headers: Record<string, string> = {}) =>
  send(HttpClientRequest.post(path).pipe(HttpClientRequest.bodyText(JSON.stringify(body), "application/json"), HttpClientRequest.setHeaders(headers)), token)

const footprint = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const store = yield* ObjectStore
  const [row] = yield* sql<{ jobs: number; nodes: number; events: number }>`
    SELECT (SELECT count(*)::int FROM jobs) AS jobs, (SELECT count(*)::int FROM computation_node) AS nodes,
           (SELECT count(*)::int FROM events WHERE type = 'JobSubmitted') AS events`
  return { ...row!, trainers: (yield* store.list("trainers/")).length }
}).pipe(Effect.orDie)

const readObject = (uri: string) =>
  Effect.gen(function*() {
    const store = yield* ObjectStore
    const key = uri.slice(uri.indexOf("trainers/"))
    const chunks = yield* Stream.runCollect(store.get(key))
    return Buffer.concat([...chunks])
  }).pipe(Effect.orDie)

for (const deployment of deployments) {
  layer(testServer(deployment, settings), { excludeTestServices: true, timeout: "120 seconds" })(
    `trainer runs on ${deployment.name}`,
    (it) => {
      const datasets = { weather: "", crafted: "" }
      const setup = Effect.gen(function*() {
        if (datasets.weather) return datasets
        datasets.weather = (yield* uploadRaw(readBytes(vegaFile("seattle-weather.csv")), "text/csv", "weather", ACME)).body.dataset_id
        datasets.crafted = (yield* uploadRaw(crafted(), "text/csv", "crafted", ACME)).body.dataset_id
        return datasets
      })

      it.effect("submits a run and shows the job, its whole graph and its first event", () =>
        Effect.gen(function*() {
          const { weather } = yield* setup
          const body = { dataset_id: weather, task: { type: "multiclass", target: "weather" }, cv_folds: 3, n_trials: 2, models: ["xgboost", "tabm"], ensemble: true, seed: 11 }
          const reply = yield* post("/v1/trainer/run", body)
          expect(reply.status, JSON.stringify(reply.body)).toBe(200)
          expect(Object.keys(reply.body).sort()).toEqual(["dataset_id", "job_id"])
          const { job_id } = reply.body
          const job = (yield* get(`/v1/jobs/${job_id}`, ACME)).body
          const total = 1 + 2 * 2 * 3 + 2 + 1 + 1
          expect(job).toMatchObject({ job_id, dataset_id: weather, status: "pending", nodes: { total, ready: 1, pending: total - 1 } })
          expect(job.graph.by_kind).toEqual({ prepare: 1, fit: 12, select: 2, ensemble: 1, finalize: 1 })
          expect(job.request).toEqual(body)
          // The trainer document is where the job says, and is what its sha256 says.
          const bytes = yield* readObject(job.trainer.uri)
          expect(Crypto.createHash("sha256").update(bytes).digest("hex")).toBe(job.trainer.sha256)
          const doc = JSON.parse(bytes.toString("utf8"))
          expect(doc).toMatchObject({ format: "trainer-run/trainer", version: 1, resolved: { models: ["xgboost", "tabm"], seed: 11, hpo: "random" } })
          expect(doc.graph.nodes).toHaveLength(total)

          const nodes = (yield* get(`/v1/jobs/${job_id}/nodes?limit=500`, ACME)).body.items
          expect(nodes).toHaveLength(total)
          expect(nodes[0]).toMatchObject({ node_id: `${job_id}.prepare`, kind: "prepare", status: "ready", deps: [], attempts: 0 })
          const fit = nodes.find((n: any) => n.kind === "fit")
          expect(fit).toMatchObject({ status: "pending", deps: [`${job_id}.prepare`], requires: "fit:xgboost" })
          const page1 = (yield* get(`/v1/jobs/${job_id}/nodes?limit=5`, ACME)).body
          const page2 = (yield* get(`/v1/jobs/${job_id}/nodes?limit=5&cursor=${page1.next_cursor}`, ACME)).body
          expect([...page1.items, ...page2.items].map((n: any) => n.node_id)).toEqual(nodes.slice(0, 10).map((n: any) => n.node_id))
          const fits = (yield* get(`/v1/jobs/${job_id}/nodes?kind=fit&status=pending`, ACME)).body.items
          expect(fits).toHaveLength(12)

          const events = (yield* get(`/v1/jobs/${job_id}/events`, ACME)).body.items
          expect(events).toHaveLength(1)
          expect(events[0]).toMatchObject({ stream_id: job_id, stream_version: 1, type: "JobSubmitted" })
          expect(events[0].data.graph.nodes).toHaveLength(total)

          const listed = (yield* get(`/v1/jobs?dataset_id=${weather}&status=pending`, ACME)).body.items
          expect(listed.map((j: any) => j.job_id)).toContain(job_id)
          expect((yield* get(`/v1/jobs?status=succeeded`, ACME)).body.items).toEqual([])
          expectProblem(yield* get(`/v1/jobs/${job_id}`, BETA), 404)
          expectProblem(yield* get(`/v1/jobs/${job_id}/nodes`, BETA), 404)
          expectProblem(yield* get(`/v1/jobs/job_%00x`, ACME), 404)
          expectProblem(yield* get(`/v1/jobs/job_%00x/events`, ACME), 404)
          expectProblem(yield* get(`/v1/datasets/%00`, ACME), 404)
        }))

      it.effect("plans without a side effect, the same seed giving the same graph", () =>
        Effect.gen(function*() {
          const { weather } = yield* setup
          const before = yield* footprint
          const body = { dataset_id: weather, task: { type: "multiclass", target: "weather" }, metrics: ["logloss", "accuracy"], grid_size: 0.25, cv_folds: 2, seed: 5 }
          const a = yield* post("/v1/trainer/plan?nodes=true", body)
          const b = yield* post("/v1/trainer/plan?nodes=true", body)
          expect(a.status, JSON.stringify(a.body)).toBe(200)
          expect(JSON.stringify(a.body.graph)).toBe(JSON.stringify(b.body.graph))
          expect(a.body.graph.by_kind.sweep_point).toBe(5)
          expect(a.body.resolved).toMatchObject({ models: ["xgboost", "tabm", "xrfm", "tabicl"], hpo: "random", n_trials: 8, seed: 5 })
          expect(yield* footprint).toEqual(before)
        }))

      it.effect("an Idempotency-Key gives one job, also when the retries race; another body is a 409", () =>
        Effect.gen(function*() {
          const { crafted } = yield* setup
          const body = { dataset_id: crafted, task: { type: "regression", target: "y" }, n_trials: 1, models: ["xgboost"] }
          const key = { "idempotency-key": `k-${Crypto.randomUUID()}` }
          const replies = yield* Effect.all(Array.from({ length: 8 }, () => post("/v1/trainer/run", body, ACME, key)), { concurrency: 8 })
          expect(replies.map((r) => r.status)).toEqual(Array(8).fill(200))
          expect(new Set(replies.map((r) => r.body.job_id)).size).toBe(1)
          const sql = yield* SqlClient.SqlClient
          const [{ n }] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM jobs WHERE idempotency_key = ${key["idempotency-key"]}`
          expect(n).toBe(1)
          expectProblem(yield* post("/v1/trainer/run", { ...body, n_trials: 2 }, ACME, key), 409, "Idempotency-Key")
          // Racing conflicts leave no trainer document without a job.
          const raceKey = { "idempotency-key": `race-${Crypto.randomUUID()}` }
          const raced = yield* Effect.all(Array.from({ length: 6 }, (_, i) => post("/v1/trainer/run", { ...body, seed: 100 + i }, ACME, raceKey)), { concurrency: 6 })
          expect(raced.filter((r) => r.status === 200)).toHaveLength(1)
          const store = yield* ObjectStore
          const trainers = yield* store.list("trainers/").pipe(Effect.orDie)
          const [{ used }] = yield* sql<{ used: number }>`SELECT count(DISTINCT trainer_sha256)::int AS used FROM jobs`
          const [{ shas }] = yield* sql<{ shas: Array<string> }>`SELECT array_agg(DISTINCT trainer_sha256) AS shas FROM jobs`
          expect(trainers.filter((k) => !shas.some((sha) => k.includes(sha))), JSON.stringify(raced.map((r) => r.status))).toEqual([])
          expect(trainers.length).toBe(used)
          // The same key belongs to one tenant only.
          expect((yield* post("/v1/trainer/run", { ...body }, BETA, key)).status).toBe(404)
          expectProblem(yield* post("/v1/trainer/run", body, ACME, { "idempotency-key": "" }), 400, "idempotency-key")
        }))

      it.effect("keeps teacher header values out of every response, event and stored trainer", () =>
        Effect.gen(function*() {
          const { crafted } = yield* setup
          const secret = `s3cr3t-${Crypto.randomUUID()}`
          const body = {
            dataset_id: crafted, task: { type: "binclass", target: "label", positive_class: "yes" }, n_trials: 1, models: ["xgboost"],
            teacher_predict_url: "https://teacher.internal/predict", teacher_headers: { Authorization: `Bearer ${secret}` }
          }
          const reply = yield* post("/v1/trainer/run", body)
          expect(reply.status, JSON.stringify(reply.body)).toBe(200)
          const job = yield* get(`/v1/jobs/${reply.body.job_id}`, ACME)
          const events = yield* get(`/v1/jobs/${reply.body.job_id}/events`, ACME)
          const nodes = yield* get(`/v1/jobs/${reply.body.job_id}/nodes`, ACME)
          const plan = yield* post("/v1/trainer/plan?nodes=true", body)
          for (const r of [reply, job, events, nodes, plan]) expect(JSON.stringify(r.body)).not.toContain(secret)
          expect(job.body.request.teacher_headers).toEqual({ Authorization: "[redacted]" })
          expect(job.body.graph.by_kind).toMatchObject({ synth: 1, teacher_predict: 1 })
          const sql = yield* SqlClient.SqlClient
          const [{ n }] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM events WHERE data::text LIKE ${"%" + secret + "%"} OR metadata::text LIKE ${"%" + secret + "%"}`
          expect(n).toBe(0)
          const doc = (yield* readObject(job.body.trainer.uri)).toString("utf8")
          expect(doc).not.toContain(secret)
          const envelope = JSON.parse(doc).secrets.teacher_headers.Authorization
          expect(envelope).toMatch(/^enc:v1:/)
          const secrets = yield* Secrets
          expect(secrets.decrypt("Authorization", envelope)).toBe(`Bearer ${secret}`)
          // Nor in the errors of a request whose headers are malformed.
          for (const headers of [{ X: secret, Y: 5 }, [secret], { X: { v: secret } }]) {
            const refused = yield* post("/v1/trainer/plan", { ...body, teacher_headers: headers })
            expectProblem(refused, 422, "/teacher_headers")
            expect(JSON.stringify(refused.body)).not.toContain(secret)
          }
        }))

      it.effect("refuses bad requests with problems pointing at the field, leaving nothing behind", () =>
        Effect.gen(function*() {
          const { crafted, weather } = yield* setup
          const before = yield* footprint
          const ok = { dataset_id: crafted, task: { type: "regression", target: "y" } }
          const expect422 = (patch: Record<string, unknown>, path: string, text?: string) =>
            Effect.gen(function*() {
              const reply = yield* post("/v1/trainer/run", { ...ok, ...patch })
              expectProblem(reply, 422)
              const paths = reply.body.errors.map((e: any) => e.path)
              expect(paths, JSON.stringify(reply.body)).toContain(path)
              if (text) expect(reply.body.errors.find((e: any) => e.path === path).message).toContain(text)
            })
          const cmp = (col: string, op: string, value?: unknown) => ({ filter: { type: "comparison", col, op, ...(value === undefined ? {} : { value }) } })
          yield* expect422({ n_trials: "3" }, "/n_trials", `actual "3"`)
          yield* expect422({ n_trial: 3 }, "/n_trial", `did you mean "n_trials"`)
          yield* expect422({ n_trials: 0 }, "/n_trials")
          yield* expect422({ n_trials: 1000 }, "/n_trials", "MAX_TRIALS")
          yield* expect422({ n_trials: 2.5 }, "/n_trials")
          yield* expect422({ cv_folds: 1 }, "/cv_folds")
          yield* expect422({ cv_folds: 50 }, "/cv_folds", "MAX_CV_FOLDS")
          yield* expect422({ hpo: "grid" }, "/hpo")
          yield* expect422({ ensemble: "yes" }, "/ensemble")
          yield* expect422({ seed: "1" }, "/seed")
          yield* expect422({ seed: -1 }, "/seed")
          yield* expect422({ task: { type: "clustering", target: "y" } }, "/task/type")
          yield* expect422({ task: { type: "regression" } }, "/task/target")
          yield* expect422({ task: { type: "regression", target: "nope" } }, "/task/target", "not a column")
          yield* expect422({ task: { type: "regression", target: "label" } }, "/task/target", "numeric")
          yield* expect422({ task: { type: "binclass", target: "cls" } }, "/task/target", "exactly two")
          yield* expect422({ task: { type: "multiclass", target: "label" } }, "/task/target", "at least three")
          yield* expect422({ task: { type: "binclass", target: "label", positive_class: "maybe" } }, "/task/positive_class")
          yield* expect422({ task: { type: "regression", target: "y", features: ["y", "x"] } }, "/task/features/0")
          yield* expect422({ task: { type: "regression", target: "y", features: ["x", "ghost"] } }, "/task/features/1")
          yield* expect422({ task: { type: "forecasting", target: "y", time_col: "x", horizon: 3 } }, "/task/time_col", "date or timestamp")
          yield* expect422({ task: { type: "forecasting", target: "y", time_col: "ts", horizon: 0 } }, "/task/horizon")
          yield* expect422({ task: { type: "forecasting", target: "y", time_col: "ts", horizon: 3, freq: "fortnightly" } }, "/task/freq")
          yield* expect422({ task: { type: "sequence_regression", target: "y", sequence_id: "seq", order_by: "label" } }, "/task/order_by")
          yield* expect422({ task: { type: "sequence_binclass", target: "label", sequence_id: "nope", order_by: "step" } }, "/task/sequence_id")
          yield* expect422({ models: ["xgbost"] }, "/models/0", "xgboost")
          yield* expect422({ models: ["tabicl"] }, "/models/0", "does not support regression")
          yield* expect422({ models: [] }, "/models")
          yield* expect422({ models: ["xgboost", "xgboost"] }, "/models", "repeat")
          yield* expect422({ metrics: ["auc"] }, "/metrics/0", "does not apply")
          yield* expect422({ metrics: ["nope"] }, "/metrics/0", "rmse")
          yield* expect422({ metrics: ["rmse", "mae"], grid_size: 0.3 }, "/grid_size", "whole number")
          yield* expect422({ metrics: ["rmse", "mae"], grid_size: 1.5 }, "/grid_size")
          yield* expect422({ grid_size: 0.5 }, "/grid_size", "two or more metrics")
          yield* expect422({ teacher_model_id: "job_x", teacher_predict_url: "https://t.example.com/p" }, "/teacher_predict_url", "mutually exclusive")
          yield* expect422({ teacher_headers: { A: "b" } }, "/teacher_headers", "teacher_predict_url")
          for (const url of ["http://127.0.0.1:9000/p", "http://localhost/p", "http://[::1]/p", "http://169.254.169.254/latest", "http://10.1.2.3/", "http://192.168.0.10/", "http://2130706433/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/"]) {
            yield* expect422({ teacher_predict_url: url }, "/teacher_predict_url")
          }
          for (const url of ["http://localhost./p", "http://LOCALHOST./p", "http://[::127.0.0.1]/p", "http://[2002:7f00:1::]/p", "http://[2001:0:53aa:64c:0:0:0:1]/p"]) {
            yield* expect422({ teacher_predict_url: url }, "/teacher_predict_url")
          }
          yield* expect422({ teacher_predict_url: "ftp://example.com/x" }, "/teacher_predict_url", "http or https")
          yield* expect422({ teacher_predict_url: "https://user:pw@example.com/x" }, "/teacher_predict_url", "credentials")
          yield* expect422({ teacher_predict_url: "not a url" }, "/teacher_predict_url")
          yield* expect422({ teacher_predict_url: "https://t.example.com/p", teacher_headers: { "Bad Name": "x" } }, "/teacher_headers/Bad Name")
          yield* expect422({ teacher_predict_url: "https://t.example.com/p", teacher_headers: { A: "x\r\nInjected: 1" } }, "/teacher_headers/A")
          yield* expect422(cmp("ghost", "eq", 1), "/filter/col")
          yield* expect422(cmp("flag", "lt", true), "/filter/op", "ordered")
          yield* expect422(cmp("x", "eq", "abc"), "/filter/value", "number")
          yield* expect422(cmp("id", "eq", 1.5), "/filter/value", "integer")
          yield* expect422(cmp("day", "ge", "2024-13-45"), "/filter/value", "ISO-8601 date")
          yield* expect422(cmp("ts", "ge", "yesterday"), "/filter/value", "ISO-8601 timestamp")
          yield* expect422(cmp("label", "in", []), "/filter/value", "non-empty list")
          yield* expect422(cmp("label", "in", ["yes", 3]), "/filter/value/1")
          yield* expect422(cmp("label", "eq"), "/filter/value", "required")
          yield* expect422(cmp("label", "is_null", "x"), "/filter/value", "absent")
          yield* expect422(cmp("label", "between", 1), "/filter/op")
          yield* expect422({ filter: { type: "bool", op: "and", args: [] } }, "/filter/args")
          yield* expect422({ filter: { type: "not", arg: { type: "bool", op: "or", args: [cmp("x", "gt", 1).filter, cmp("x", "lt", "z").filter] } } }, "/filter/arg/args/1/value")
          yield* expect422({ n_trials: 300, cv_folds: 20, models: ["xgboost", "tabm", "xrfm"] }, "", "MAX_GRAPH_NODES")
          yield* expect422({ dataset_id: "ds_\u0000" }, "/dataset_id", "NUL")
          yield* expect422(cmp("label", "eq", "ra\u0000in"), "/filter/value", "NUL")
          yield* expect422(cmp("id", "eq", 2 ** 63), "/filter/value", "2^53")
          let deep: unknown = cmp("x", "gt", 1).filter
          for (let i = 0; i < 500; i++) deep = { type: "not", arg: deep }
          yield* expect422({ filter: deep }, "/filter/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg/arg", "nests deeper")
          yield* expect422({ task: { type: "sequence_binclass", target: "label", sequence_id: "label", order_by: "step" } }, "/task/sequence_id", "target")
          yield* expect422({ task: { type: "forecasting", target: "y", time_col: "ts", horizon: 3, series_id: "y" } }, "/task/series_id", "target")
          yield* expect422({ task: { type: "forecasting", target: "y", time_col: "ts", horizon: 3, series_id: ["seq", "seq"] } }, "/task/series_id/1", "repeats")
          yield* expect422({ task: { type: "forecasting", target: "y", time_col: "ts", horizon: 30 }, cv_folds: 2 }, "/task/horizon", "backtest")
          const nullable = yield* post("/v1/trainer/run", { ...ok, cv_folds: 1, seed: -1 })
          expect(nullable.body.errors.map((e: any) => e.message).join(" ")).not.toContain("Expected null")
          // Several violations, reported together.
          const many = yield* post("/v1/trainer/run", { ...ok, n_trials: 0, hpo: "grid", task: { type: "regression", target: "label" }, metrics: ["auc"] })
          expectProblem(many, 422)
          expect(many.body.errors.length).toBeGreaterThanOrEqual(2)
          expectProblem(yield* post("/v1/trainer/run", {}), 422, "/task")
          expectProblem(yield* post("/v1/trainer/run", { ...ok, dataset_id: "ds_nope" }), 404, "ds_nope")
          expectProblem(yield* post("/v1/trainer/run", { ...ok, dataset_id: weather }, BETA), 404)
          expectProblem(yield* post("/v1/trainer/run", { ...ok, teacher_model_id: "job_nope" }), 404, "job_nope")
          expectProblem(yield* send(HttpClientRequest.post("/v1/trainer/run").pipe(HttpClientRequest.bodyText(`{"dataset_id": `, "application/json")), ACME), 400, "not valid JSON")
          expectProblem(yield* send(HttpClientRequest.post("/v1/trainer/run").pipe(HttpClientRequest.bodyText("x", "text/plain")), ACME), 415)
          expect(yield* footprint).toEqual(before)
        }))

      it.effect("answers every request right under concurrent load", () =>
        Effect.gen(function*() {
          const { weather, crafted } = yield* setup
          const plans = Array.from({ length: 12 }, (_, i) =>
            post("/v1/trainer/plan", { dataset_id: i % 2 ? weather : crafted, task: i % 2 ? { type: "multiclass", target: "weather" } : { type: "regression", target: "y" }, n_trials: 2, seed: i }))
          const runs = Array.from({ length: 12 }, (_, i) =>
            post("/v1/trainer/run", { dataset_id: i % 2 ? weather : crafted, task: i % 2 ? { type: "multiclass", target: "weather" } : { type: "regression", target: "y" }, n_trials: 3, cv_folds: 3, seed: i }))
          const reads = Array.from({ length: 12 }, (_, i) => get(`/v1/datasets/${i % 2 ? weather : crafted}`, ACME))
          const replies = yield* Effect.all([...plans, ...runs, ...reads], { concurrency: "unbounded" })
          expect(replies.map((r) => r.status)).toEqual(Array(36).fill(200))
          replies.forEach((r, i) => expect(r.body.dataset_id).toBe(i % 2 ? weather : crafted))
          for (const r of replies.slice(12, 24)) {
            const job = (yield* get(`/v1/jobs/${r.body.job_id}`, ACME)).body
            expect(job.nodes.total).toBe(Object.values(job.graph.by_kind as Record<string, number>).reduce((a, b) => a + b, 0))
          }
        }))

      it.effect("lets clients discover families and metrics", () =>
        Effect.gen(function*() {
          const all = (yield* get("/v1/models/families", ACME)).body.items.map((f: any) => f.id)
          expect(all).toEqual(expect.arrayContaining(["tabm", "xgboost", "xrfm", "tabicl"]))
          const regression = (yield* get("/v1/models/families?task=regression", ACME)).body.items.map((f: any) => f.id)
          expect(regression).not.toContain("tabicl")
          const metrics = (yield* get("/v1/metrics?task=binclass", ACME)).body
          expect(metrics.items.map((m: any) => m.name)).toContain("auc")
          expect(metrics.defaults.binclass).toBe("auc")
          const badTask = yield* get("/v1/metrics?task=clustering", ACME)
          expectProblem(badTask, 400, "/query/task")
          expect(badTask.body._tag).toBe("BadRequest")
          expect(badTask.body.errors).toHaveLength(1)
        }))
    }
  )
}
