// The trainer-run endpoints and the registries clients discover families and metrics from.
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { SubmitResult } from "../Domain/Job.ts"
import { Conflict, NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType } from "../Domain/Problem.ts"
import { TaskTypes, TrainerRequest } from "../Domain/Trainer.ts"
import { Authentication } from "../Tenancy.ts"
import { Metric, ModelFamily } from "./Registry.ts"

export class Plan extends Schema.Class<Plan>("Plan")({
  dataset_id: Schema.String,
  resolved: Schema.Unknown.annotations({ description: "The trainer with every default resolved (families, metrics, hpo, n_trials, seed, features)." }),
  graph: Schema.Struct({
    total: Schema.Int,
    by_kind: Schema.Record({ key: Schema.String, value: Schema.Int }),
    nodes: Schema.optional(Schema.Array(Schema.Unknown))
  })
}) {}

const IdempotencyHeaders = Schema.Struct({
  "idempotency-key": Schema.optional(Schema.String).annotations({ description: "Same key + same body → the same job_id; another body → 409." })
})

export class TrainerApi extends HttpApiGroup.make("trainer")
  .add(
    HttpApiEndpoint.post("run", "/v1/trainer/run")
      .setPayload(TrainerRequest)
      .setHeaders(IdempotencyHeaders)
      .addSuccess(SubmitResult)
      .addError(NotFound)
      .addError(Conflict)
      .addError(PayloadTooLarge)
      .addError(UnsupportedMediaType)
      .addError(Unprocessable)
      .annotate(OpenApi.Summary, "Submit a trainer run")
      .annotate(
        OpenApi.Description,
        "Validates, builds, compiles, uploads the trainer and hands the graph to the scheduler; answers once the job, " +
          "its whole graph and its first event are committed. 422 lists every violation with a JSON Pointer; 503 with " +
          "Retry-After when the scheduler's inbox is full."
      )
  )
  .add(
    HttpApiEndpoint.post("plan", "/v1/trainer/plan")
      .setPayload(TrainerRequest)
      .setUrlParams(Schema.Struct({ nodes: Schema.optional(Schema.Literal("true", "false")) }))
      .addSuccess(Plan)
      .addError(NotFound)
      .addError(PayloadTooLarge)
      .addError(UnsupportedMediaType)
      .addError(Unprocessable)
      .annotate(OpenApi.Summary, "Dry run: the resolved trainer and its graph, with no side effect")
  )
  .add(
    HttpApiEndpoint.get("families", "/v1/models/families")
      .setUrlParams(Schema.Struct({ task: Schema.optional(Schema.Literal(...TaskTypes)) }))
      .addSuccess(Schema.Struct({ items: Schema.Array(ModelFamily) }))
      .annotate(OpenApi.Summary, "Model families: tasks, limits, search spaces, defaults")
  )
  .add(
    HttpApiEndpoint.get("metrics", "/v1/metrics")
      .setUrlParams(Schema.Struct({ task: Schema.optional(Schema.Literal(...TaskTypes)) }))
      .addSuccess(Schema.Struct({
        items: Schema.Array(Metric),
        defaults: Schema.Record({ key: Schema.String, value: Schema.String })
      }))
      .annotate(OpenApi.Summary, "Metrics: direction, tasks, and the default per task")
  )
  .middleware(Authentication)
{}


