// HTTP handlers of the jobs read side.
import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { Api } from "../Api.ts"
import { NotFound, ServiceUnavailable } from "../Domain/Problem.ts"
import { Jobs, type JobNotFound } from "../Jobs.ts"
import { CurrentTenant } from "../Tenancy.ts"

const errors = {
  JobNotFound: (e: JobNotFound) => Effect.fail(NotFound.of(`no job ${e.jobId}`)),
  SqlError: () => Effect.fail(ServiceUnavailable.of("the database is unavailable"))
}

export const JobsLive = HttpApiBuilder.group(Api, "jobs", (handlers) =>
  Effect.gen(function*() {
    const jobs = yield* Jobs
    const withTenant = <A, E, R>(f: (tenant: string) => Effect.Effect<A, E, R>) => Effect.flatMap(CurrentTenant, f)
    return handlers
      .handle("list", ({ urlParams }) =>
        withTenant((t) => jobs.list(t, urlParams)).pipe(Effect.catchTag("SqlError", errors.SqlError)))
      .handle("get", ({ path }) => withTenant((t) => jobs.get(t, path.job_id)).pipe(Effect.catchTags(errors)))
      .handle("nodes", ({ path, urlParams }) => withTenant((t) => jobs.nodes(t, path.job_id, urlParams)).pipe(Effect.catchTags(errors)))
      .handle("events", ({ path, urlParams }) => withTenant((t) => jobs.events(t, path.job_id, urlParams)).pipe(Effect.catchTags(errors)))
  })
)
