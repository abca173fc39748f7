// HTTP handlers of the jobs read side.
import { HttpApiBuilder, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect, Schedule, Stream } from "effect"
import { Api } from "../Api.ts"
import type { StoredEvent } from "../Domain/Events.ts"
import { BadRequest, Conflict, FieldError, NotFound, ServiceUnavailable } from "../Domain/Problem.ts"
import { Jobs, type JobNotFound } from "../Jobs.ts"
import { CurrentTenant } from "../Tenancy.ts"
import { Workers } from "../Workers.ts"

const errors = {
  JobNotFound: (e: JobNotFound) => Effect.fail(NotFound.of(`no job ${e.jobId}`)),
  SqlError: () => Effect.fail(ServiceUnavailable.of("the database is unavailable"))
}

const encoder = new TextEncoder()
const sseEvent = (e: StoredEvent) => encoder.encode(`id: ${e.stream_version}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`)
const keepAlive = Stream.fromSchedule(Schedule.spaced("15 seconds")).pipe(Stream.as(encoder.encode(": keep-alive\n\n")))

/** Where a follower resumes: `Last-Event-ID` (a stream version this API sent) wins over `cursor`. */
const resumeFrom = (cursor: number | undefined) =>
  Effect.gen(function*() {
    const header = (yield* HttpServerRequest.HttpServerRequest).headers["last-event-id"]
    if (header === undefined || header.trim() === "") return cursor ?? 0
    const value = header.trim()
    if (!/^\d{1,15}$/.test(value)) {
      return yield* Effect.fail(BadRequest.of("Last-Event-ID is not an event id from this API", [
        new FieldError({ path: "/header/last-event-id", message: "must be the id (a stream version, a whole number) of an event this stream sent" })
      ]))
    }
    return Number(value)
  })

export const JobsLive = HttpApiBuilder.group(Api, "jobs", (handlers) =>
  Effect.gen(function*() {
    const jobs = yield* Jobs
    const workers = yield* Workers
    const withTenant = <A, E, R>(f: (tenant: string) => Effect.Effect<A, E, R>) => Effect.flatMap(CurrentTenant, f)
    return handlers
      .handle("list", ({ urlParams }) =>
        withTenant((t) => jobs.list(t, urlParams)).pipe(Effect.catchTag("SqlError", errors.SqlError)))
      .handle("get", ({ path }) => withTenant((t) => jobs.get(t, path.job_id)).pipe(Effect.catchTags(errors)))
      .handle("cancel", ({ path }) =>
        withTenant((t) =>
          workers.cancel(t, path.job_id, { tenant: t }).pipe(
            Effect.catchTags({
              JobMissing: (e) => Effect.fail(NotFound.of(`no job ${e.jobId}`)),
              JobFinished: (e) => Effect.fail(Conflict.of(`job ${e.jobId} already ${e.status}; there is nothing to cancel`))
            }),
            Effect.zipRight(jobs.get(t, path.job_id))
          )
        ).pipe(Effect.catchTags(errors)))
      .handle("nodes", ({ path, urlParams }) => withTenant((t) => jobs.nodes(t, path.job_id, urlParams)).pipe(Effect.catchTags(errors)))
      .handle("graph", ({ path, urlParams }) =>
        withTenant((t) => jobs.picture(t, path.job_id, urlParams.format ?? "mermaid")).pipe(Effect.catchTags(errors)))
      .handle("events", ({ path, urlParams }) =>
        withTenant((t) =>
          Effect.gen(function*() {
              if (urlParams.follow !== true) return yield* jobs.events(t, path.job_id, urlParams)
              const after = yield* resumeFrom(urlParams.cursor)
              const { finished, stream } = yield* jobs.follow(t, path.job_id, after)
              if (finished && after > 0) return HttpServerResponse.empty({ status: 204 })
              const body = Stream.make(encoder.encode("retry: 1000\n\n")).pipe(
                Stream.concat(stream.pipe(Stream.map(sseEvent))),
                Stream.merge(keepAlive, { haltStrategy: "left" }),
                // A database failure mid-stream ends it; the client resumes from its Last-Event-ID.
                Stream.catchAll(() => Stream.empty)
              )
              return HttpServerResponse.stream(body, {
                contentType: "text/event-stream",
                headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
              })
            })
        ).pipe(Effect.catchTags(errors)))
  })
)
