// Live events: GET /v1/jobs/{id}/events?follow=true as Server-Sent Events, resumable from
// Last-Event-ID, with no event skipped or repeated while other transactions commit.
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Option, Stream } from "effect"
import pg from "pg"
import { deployments, postgresS3, testServer } from "./support/Deployments.ts"
import { expectProblem, get, send, uploadRaw } from "./support/Http.ts"

const post = (path: string, body: unknown) =>
  send(HttpClientRequest.post(path).pipe(HttpClientRequest.bodyText(JSON.stringify(body), "application/json")))

const csv = "x,y\n" + Array.from({ length: 30 }, (_, i) => `${i},${i * 3 + (i % 4)}`).join("\n") + "\n"

interface SseEvent {
  readonly id: string | undefined
  readonly event: string | undefined
  readonly data: any
}

/** Opens the stream and reads events until it ends or `take` have arrived; the status, headers and events. */
const follow = (jobId: string, options: { readonly lastEventId?: string; readonly take?: number } = {}) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    let request = HttpClientRequest.get(`/v1/jobs/${jobId}/events`).pipe(HttpClientRequest.setUrlParam("follow", "true"))
    if (options.lastEventId !== undefined) request = HttpClientRequest.setHeader(request, "last-event-id", options.lastEventId)
    const response = yield* client.execute(request)
    const events: Array<SseEvent> = []
    let frame: Record<string, string> = {}
    yield* response.stream.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.takeUntil((line) => {
        if (line === "") {
          if (frame.data !== undefined) events.push({ id: frame.id, event: frame.event, data: JSON.parse(frame.data) })
          frame = {}
          return options.take !== undefined && events.length >= options.take
        }
        if (line.startsWith(":")) return false
        const colon = line.indexOf(":")
        frame[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, "")
        return false
      }),
      Stream.runDrain
    )
    return { status: response.status, headers: response.headers, events }
  }).pipe(Effect.scoped, Effect.orDie)

/** A worker loop: lease one node at a time and complete it, until the job has nothing left to lease. */
const worker = (name: string, jobId: string) =>
  Effect.gen(function*() {
    for (let idle = 0; idle < 40;) {
      const { leases } = (yield* post("/v1/workers/lease", { worker_id: name, capabilities: null, max_nodes: 1 })).body
      if (leases.length === 0) {
        const status = (yield* get(`/v1/jobs/${jobId}`)).body.status
        if (status === "succeeded" || status === "failed") return
        idle++
        yield* Effect.sleep("25 millis")
        continue
      }
      for (const l of leases) {
        yield* post(`/v1/nodes/${l.node_id}/heartbeat`, { lease_token: l.lease_token })
        yield* post(`/v1/nodes/${l.node_id}/complete`, { lease_token: l.lease_token, result: { by: name } })
      }
    }
  })

for (const deployment of deployments) {
  layer(testServer(deployment), { excludeTestServices: true, timeout: "120 seconds" })(`live events on ${deployment.name}`, (it) => {
    const submit = (body: Record<string, unknown>) =>
      Effect.gen(function*() {
        const dataset = (yield* uploadRaw(csv, "text/csv", "tiny")).body.dataset_id
        const reply = yield* post("/v1/trainer/run", { dataset_id: dataset, task: { type: "regression", target: "y" }, models: ["xgboost"], ...body })
        expect(reply.status, JSON.stringify(reply.body)).toBe(200)
        return reply.body.job_id as string
      })

    it.effect("followers see every event once, in order, across reconnects, while four workers race", () =>
      Effect.gen(function*() {
        const jobId = yield* submit({ n_trials: 6, seed: 11 })
        // One follower reads the first three events and hangs up; a second stays on from the start.
        const whole = yield* Effect.fork(follow(jobId))
        const workers = yield* Effect.fork(Effect.all(["a", "b", "c", "d"].map((w) => worker(w, jobId)), { concurrency: "unbounded" }))
        const first = yield* follow(jobId, { take: 3 })
        expect(first.status).toBe(200)
        expect(first.headers["content-type"]).toMatch(/^text\/event-stream/)
        expect(first.events.map((e) => e.id)).toEqual(["1", "2", "3"])
        expect(first.events[0]).toMatchObject({ event: "JobSubmitted", data: { stream_id: jobId, stream_version: 1, type: "JobSubmitted" } })
        // Resume mid-run from the last id received, then again partway.
        const second = yield* follow(jobId, { lastEventId: "3", take: 5 })
        const rest = yield* follow(jobId, { lastEventId: second.events.at(-1)!.id! })
        yield* Fiber.join(workers)
        const all = (yield* get(`/v1/jobs/${jobId}/events?limit=500`)).body.items
        expect(all.at(-1).type).toBe("JobSucceeded")
        const resumed = [...first.events, ...second.events, ...rest.events]
        expect(resumed.map((e) => e.data)).toEqual(all)
        expect(resumed.map((e) => Number(e.id))).toEqual(all.map((_: unknown, i: number) => i + 1))
        expect((yield* Fiber.join(whole)).events.map((e) => e.data)).toEqual(all)
        // A reconnect to a finished job with nothing left: 204, which tells EventSource to stop.
        const after = yield* follow(jobId, { lastEventId: String(all.length) })
        expect(after.status).toBe(204)
        // A fresh follower of a finished job gets its whole story, then the end.
        expect((yield* follow(jobId)).events.map((e) => e.data)).toEqual(all)
      }))

    it.effect("a follower waiting on an idle job gets the next event when it commits, and cancelling ends the stream", () =>
      Effect.gen(function*() {
        const jobId = yield* submit({ n_trials: 1, seed: 12 })
        const follower = yield* Effect.fork(follow(jobId))
        yield* Effect.sleep("300 millis")
        const cancelled = yield* post(`/v1/jobs/${jobId}/cancel`, {})
        expect(cancelled.body.status).toBe("cancelled")
        const seen = yield* Fiber.join(follower).pipe(Effect.timeout("10 seconds"))
        expect(seen.events.map((e) => e.event)).toEqual(["JobSubmitted", "JobCancelRequested", "JobCancelled"])
      }))

    it.effect("a bad Last-Event-ID, an unknown job and another tenant's job are precise errors", () =>
      Effect.gen(function*() {
        const jobId = yield* submit({ n_trials: 1, seed: 13 })
        const bad = yield* send(HttpClientRequest.get(`/v1/jobs/${jobId}/events?follow=true`).pipe(HttpClientRequest.setHeader("last-event-id", "abc")))
        expectProblem(bad, 400, "/header/last-event-id")
        expectProblem(yield* get(`/v1/jobs/job_nope/events?follow=true`), 404)
        expectProblem(yield* get(`/v1/jobs/${jobId}/events?follow=maybe`), 400, "/query/follow")
      }))
  })
}

// The commit-order gap: a transaction takes version 2 of a job's stream (and an early global position),
// then waits while other jobs' events commit with later positions. A follower must neither move past
// version 2 nor skip it when it finally commits.
layer(testServer(postgresS3), { excludeTestServices: true, timeout: "120 seconds" })("events committed out of order", (it) => {
  it.effect("a follower never skips an event whose transaction commits late, nor repeats one", () =>
    Effect.gen(function*() {
      const dataset = (yield* uploadRaw(csv, "text/csv", "tiny")).body.dataset_id
      const body = (seed: number) => ({ dataset_id: dataset, task: { type: "regression", target: "y" }, models: ["xgboost"], n_trials: 1, seed })
      const slow = (yield* post("/v1/trainer/run", body(21))).body.job_id as string
      const sql = yield* SqlClient.SqlClient
      const [{ db }] = yield* sql<{ db: string }>`SELECT current_database() AS db`
      const held = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:5432/${db}` })
      // A writer in its own connection does what the service does for a cancel request, and holds.
      const heldPosition = yield* Effect.promise(async () => {
        await held.connect()
        await held.query("BEGIN")
        await held.query("SELECT 1 FROM jobs WHERE job_id = $1 FOR UPDATE", [slow])
        const { rows } = await held.query(
          `INSERT INTO events (stream_id, stream_version, type, schema_version, data, metadata)
           VALUES ($1, 2, 'JobCancelRequested', 1, $2, '{"tenant":"default"}') RETURNING position::int AS p`,
          [slow, JSON.stringify({ job_id: slow, at: new Date().toISOString() })]
        )
        await held.query("UPDATE jobs SET version = 2, status = 'cancelling' WHERE job_id = $1", [slow])
        return rows[0].p as number
      })
      const follower = yield* Effect.fork(follow(slow, { take: 2 }))
      const later: Array<number> = []
      for (const seed of [22, 23, 24]) {
        const other = (yield* post("/v1/trainer/run", body(seed))).body.job_id
        later.push((yield* get(`/v1/jobs/${other}/events`)).body.items[0].position)
      }
      expect(Math.min(...later)).toBeGreaterThan(heldPosition)
      yield* Effect.sleep("1200 millis")
      expect(Option.isNone(yield* Fiber.poll(follower)), "the follower moved on before version 2 committed").toBe(true)
      yield* Effect.promise(async () => {
        await held.query("COMMIT")
        await held.end()
      })
      const seen = yield* Fiber.join(follower).pipe(Effect.timeout("10 seconds"))
      expect(seen.events.map((e) => [e.id, e.event])).toEqual([["1", "JobSubmitted"], ["2", "JobCancelRequested"]])
      expect(seen.events[1]!.data.position).toBe(heldPosition)
    }))
})
