// HTTP handlers of the jobs read side.
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { Api } from "../Api.ts"
import { Conflict, NotFound, ServiceUnavailable } from "../Domain/Problem.ts"
import { Jobs, type JobNotFound } from "../Jobs.ts"
import { CurrentTenant } from "../Tenancy.ts"
import { Workers } from "../Workers.ts"

const errors = {
  JobNotFound: (e: JobNotFound) => Effect.fail(NotFound.of(`no job ${e.jobId}`)),
  SqlError: () => Effect.fail(ServiceUnavailable.of("the database is unavailable"))
}

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
      .handle("events", ({ path, urlParams }) => withTenant((t) => jobs.events(t, path.job_id, urlParams)).pipe(Effect.catchTags(errors)))
  })
)
