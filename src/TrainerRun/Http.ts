// HTTP handlers of the pipeline: read the body, run the stages, map each stage's errors to a problem.
import { HttpApiBuilder, type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { Api } from "../Api.ts"
import { AppConfig } from "../Config.ts"
import { SubmitResult } from "../Domain/Job.ts"
import { BadRequest, Conflict, FieldError, ServiceUnavailable, Unprocessable } from "../Domain/Problem.ts"
import { TrainerRun } from "../TrainerRun.ts"
import { CurrentTenant } from "../Tenancy.ts"
import { readJson } from "../Validation.ts"
import type { BuildFailed } from "./Build.ts"
import { summarize, type GraphInvalid, type GraphTooLarge } from "./Compile.ts"
import { defaultMetric, families, familiesFor, metrics, metricsFor } from "./Registry.ts"
import { Plan } from "./Api.ts"

const graphTooLarge = (e: GraphTooLarge) =>
  Unprocessable.of(`the graph would have ${e.count} nodes; MAX_GRAPH_NODES is ${e.limit}`, [
    new FieldError({ path: "", message: `the graph would have ${e.count} nodes; MAX_GRAPH_NODES is ${e.limit} (fewer models, trials, folds or sweep points)` })
  ])

/** Errors of stages 1–3, as problems. */
const planErrors = {
  BuildFailed: (e: BuildFailed) => Effect.fail(e.problem),
  GraphTooLarge: (e: GraphTooLarge) => Effect.fail(graphTooLarge(e)),
  GraphInvalid: (e: GraphInvalid) => Effect.die(e),
  SqlError: () => Effect.fail(ServiceUnavailable.of("the database is unavailable"))
}

/** 503 with Retry-After: the client should come back, with the same Idempotency-Key. */
const retryLater = (detail: string, seconds: number) =>
  HttpServerResponse.unsafeJson(ServiceUnavailable.of(detail), {
    status: 503,
    contentType: "application/problem+json",
    headers: { "retry-after": String(seconds) }
  })

const idempotencyKey = (request: HttpServerRequest.HttpServerRequest) => {
  const key = request.headers["idempotency-key"]
  if (key === undefined) return Effect.succeed(undefined)
  if (key.length === 0 || key.length > 255 || !/^[\x21-\x7e]+$/.test(key)) {
    return Effect.fail(BadRequest.of("/header/idempotency-key: must be 1–255 visible ASCII characters", [
      new FieldError({ path: "/header/idempotency-key", message: "must be 1–255 visible ASCII characters" })
    ]))
  }
  return Effect.succeed(key)
}

const encodeSubmit = HttpServerResponse.schemaJson(SubmitResult)
const encodePlan = HttpServerResponse.schemaJson(Plan)

export const TrainerLive = HttpApiBuilder.group(Api, "trainer", (handlers) =>
  Effect.gen(function*() {
    const pipeline = yield* TrainerRun
    const { limits } = yield* AppConfig
    return handlers
      .handleRaw("run", ({ request }) =>
        Effect.gen(function*() {
          const tenant = yield* CurrentTenant
          const key = yield* idempotencyKey(request)
          const body = yield* readJson(request, limits.maxJsonBodyBytes)
          return yield* pipeline.run(tenant, body, key, { tenant, request_id: request.headers["x-request-id"] }).pipe(
            Effect.flatMap(({ job_id, dataset_id }) => encodeSubmit({ job_id, dataset_id }).pipe(Effect.orDie)),
            Effect.catchTags({
              ...planErrors,
              ObjectStoreError: (e) => Effect.succeed(retryLater(`the object store is unavailable (${e.op} failed); retry with the same Idempotency-Key`, 2)),
              InboxFull: (e) => Effect.succeed(retryLater(`the scheduler's inbox is full (SCHEDULER_INBOX_SIZE ${e.capacity}); retry with the same Idempotency-Key`, 1)),
              SchedulerUnavailable: (e) => Effect.succeed(retryLater(`the scheduler could not take the job: ${e.reason}; retry with the same Idempotency-Key`, 1)),
              IdempotencyConflict: (e) =>
                Effect.fail(Conflict.of(`Idempotency-Key ${JSON.stringify(e.key)} was used for another request body (job ${e.job_id}); use a new key for a new request`))
            })
          )
        }))
      .handleRaw("plan", ({ request, urlParams }) =>
        Effect.gen(function*() {
          const tenant = yield* CurrentTenant
          const body = yield* readJson(request, limits.maxJsonBodyBytes)
          const { resolved, graph } = yield* pipeline.plan(tenant, body).pipe(Effect.catchTags(planErrors))
          return yield* encodePlan(new Plan({
            dataset_id: resolved.dataset.dataset_id,
            resolved,
            graph: { ...summarize(graph), ...(urlParams.nodes === "true" ? { nodes: graph.nodes } : {}) }
          })).pipe(Effect.orDie)
        }))
      .handle("families", ({ urlParams }) => Effect.succeed({ items: urlParams.task ? familiesFor(urlParams.task) : families }))
      .handle("metrics", ({ urlParams }) =>
        Effect.succeed({ items: urlParams.task ? metricsFor(urlParams.task) : metrics, defaults: defaultMetric }))
  })
)


