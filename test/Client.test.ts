// The typed SDK against the real server: typed results and errors, safe retries (a lost reply or a
// 503 retried with the same Idempotency-Key gives one job; a 422 is not retried), live events.
import { FetchHttpClient, HttpClient, HttpClientError, HttpClientResponse, HttpServer } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import * as Fs from "node:fs"
import { TrainerClient } from "../src/Client.ts"
import { embedded, testServer } from "./support/Deployments.ts"
import { vegaFile } from "./support/Http.ts"

const baseUrl = Effect.map(HttpServer.HttpServer, (server) => `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}`)

/** A real HTTP client whose first `n` submissions are sent, committed by the server, and then "lost". */
const losingReplies = (n: number, sent: { count: number }) =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.map(HttpClient.HttpClient, (client) =>
      HttpClient.transform(client, (send, request) =>
        request.url.endsWith("/v1/trainer/run")
          ? send.pipe(Effect.flatMap((response) =>
            ++sent.count <= n ? Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", description: "reply lost" })) : Effect.succeed(response)
          ))
          : send
      ))
  ).pipe(Layer.provide(FetchHttpClient.layer))

/** A client that answers the first submission itself with 503 + Retry-After, without sending it. */
const busyOnce = (sent: { count: number }) =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.map(HttpClient.HttpClient, (client) =>
      HttpClient.transform(client, (send, request) =>
        request.url.endsWith("/v1/trainer/run") && ++sent.count === 1
          ? Effect.succeed(HttpClientResponse.fromWeb(request, new Response(null, { status: 503, headers: { "retry-after": "0" } })))
          : send
      ))
  ).pipe(Layer.provide(FetchHttpClient.layer))

layer(testServer(embedded), { excludeTestServices: true, timeout: "120 seconds" })("the SDK", (it) => {
  const weather = Fs.readFileSync(vegaFile("seattle-weather.csv"))
  const run = (dataset_id: string, seed: number) => ({ dataset_id, task: { type: "multiclass" as const, target: "weather" }, models: ["xgboost"], n_trials: 2, seed })

  it.effect("registers, plans, submits and reads with typed results; errors are typed by tag", () =>
    Effect.gen(function*() {
      const client = yield* TrainerClient.make({ baseUrl: yield* baseUrl }).pipe(Effect.provide(FetchHttpClient.layer))
      const dataset = yield* client.upload(weather, { name: "weather" })
      expect(dataset).toMatchObject({ name: "weather", format: "csv", profile: { rows: 1461 } })
      const plan = yield* client.trainer.plan({ payload: run(dataset.dataset_id, 1), urlParams: {} })
      expect(plan.graph.total).toBeGreaterThan(3)
      const { job_id } = yield* client.submit(run(dataset.dataset_id, 1))
      const job = yield* client.jobs.get({ path: { job_id } })
      expect(job).toMatchObject({ job_id, status: "pending", dataset_id: dataset.dataset_id })
      const missing = yield* client.jobs.get({ path: { job_id: "job_nope" } }).pipe(Effect.flip)
      expect(missing._tag).toBe("NotFound")
      // The shared schema is checked before sending; the server's own rules come back typed.
      expect((yield* client.submit({ ...run(dataset.dataset_id, 2), n_trials: 0 }).pipe(Effect.flip))._tag).toBe("ParseError")
      const invalid = yield* client.submit({ ...run(dataset.dataset_id, 2), task: { type: "multiclass", target: "nope" } }).pipe(Effect.flip)
      expect(invalid._tag).toBe("Unprocessable")
      expect(invalid._tag === "Unprocessable" && invalid.errors?.map((e) => e.path)).toEqual(["/task/target"])
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.effect("a submission whose reply was lost twice is retried with its key: one job", () =>
    Effect.gen(function*() {
      const sent = { count: 0 }
      const url = yield* baseUrl
      const plain = yield* TrainerClient.make({ baseUrl: url }).pipe(Effect.provide(FetchHttpClient.layer))
      const dataset = yield* plain.upload(weather, { name: "weather" })
      const flaky = yield* TrainerClient.make({ baseUrl: url, backoff: "10 millis" }).pipe(Effect.provide(losingReplies(2, sent)))
      const { job_id } = yield* flaky.submit(run(dataset.dataset_id, 3))
      expect(sent.count).toBe(3)
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ job_id: string }>`SELECT job_id FROM jobs WHERE request->>'seed' = '3'`
      expect(rows.map((r) => r.job_id)).toEqual([job_id])
      // And a 503 is waited out (Retry-After), not surfaced.
      const busy = { count: 0 }
      const patient = yield* TrainerClient.make({ baseUrl: url }).pipe(Effect.provide(busyOnce(busy)))
      expect((yield* patient.submit(run(dataset.dataset_id, 4))).job_id).toMatch(/^job_/)
      expect(busy.count).toBe(2)
      // A 422 is an answer, not an outage: sent once.
      const counted = { count: 0 }
      const strict = yield* TrainerClient.make({ baseUrl: url, backoff: "10 millis" }).pipe(Effect.provide(losingReplies(0, counted)))
      expect((yield* strict.submit({ ...run(dataset.dataset_id, 5), task: { type: "multiclass", target: "nope" } }).pipe(Effect.flip))._tag).toBe("Unprocessable")
      expect(counted.count).toBe(1)
    }))

  it.effect("follows a job's events live until it ends", () =>
    Effect.gen(function*() {
      const client = yield* TrainerClient.make({ baseUrl: yield* baseUrl }).pipe(Effect.provide(FetchHttpClient.layer))
      const dataset = yield* client.upload(weather, { name: "weather" })
      const { job_id } = yield* client.submit(run(dataset.dataset_id, 6))
      const follower = yield* Effect.fork(Stream.runCollect(client.follow(job_id)).pipe(Effect.provide(FetchHttpClient.layer)))
      yield* Effect.sleep("300 millis")
      expect((yield* client.jobs.cancel({ path: { job_id } })).status).toBe("cancelled")
      const events = [...(yield* follower.await.pipe(Effect.flatten))]
      expect(events.map((e) => [e.stream_version, e.type])).toEqual([[1, "JobSubmitted"], [2, "JobCancelRequested"], [3, "JobCancelled"]])
    }).pipe(Effect.provide(FetchHttpClient.layer)))
})
