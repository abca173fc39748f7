// The worker protocol's wire shapes (§7), language-neutral JSON.
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { Conflict, NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType } from "../Domain/Problem.ts"
import { Authentication } from "../Tenancy.ts"

export const LeaseRequest = Schema.Struct({
  worker_id: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
  capabilities: Schema.NullOr(Schema.Array(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))).pipe(
    Schema.maxItems(1000, { message: () => "must list at most 1000 capabilities" })
  )).annotations({
    description: "Node `requires` values this worker can run (e.g. prepare, fit:xgboost); null takes anything."
  }),
  max_nodes: Schema.Int.pipe(Schema.between(1, 100, { message: () => "must be between 1 and 100" })),
  lease_seconds: Schema.optional(Schema.Int.pipe(Schema.greaterThanOrEqualTo(1, { message: () => "must be at least 1" })))
})

export const Lease = Schema.Struct({
  node_id: Schema.String,
  job_id: Schema.String,
  kind: Schema.String,
  params: Schema.Unknown,
  deps: Schema.Array(Schema.String),
  lease_token: Schema.String,
  expires_at: Schema.String,
  trainer: Schema.Struct({ uri: Schema.String, sha256: Schema.String })
})

export const Heartbeat = Schema.Struct({ lease_token: Schema.String })
export const Complete = Schema.Struct({
  lease_token: Schema.String,
  // Any JSON value, but present: Schema.Unknown alone would let a missing key through as undefined.
  result: Schema.Union(Schema.Null, Schema.Boolean, Schema.Number, Schema.String, Schema.Array(Schema.Unknown), Schema.Object).annotations({
    identifier: "JsonValue",
    description: "The node's result (e.g. {uri} of its artifact); null when it has none."
  })
})
export const Fail = Schema.Struct({
  lease_token: Schema.String,
  error: Schema.Struct({ message: Schema.String.pipe(Schema.maxLength(10_000)), retryable: Schema.Boolean })
})

const NodePath = Schema.Struct({ node_id: Schema.String })


export class WorkersApi extends HttpApiGroup.make("workers")
  .add(
    HttpApiEndpoint.post("lease", "/v1/workers/lease")
      .setPayload(LeaseRequest)
      .addSuccess(Schema.Struct({ leases: Schema.Array(Lease) }))
      .addError(PayloadTooLarge).addError(UnsupportedMediaType).addError(Unprocessable)
      .annotate(OpenApi.Summary, "Lease ready nodes this worker can run")
  )
  .add(
    HttpApiEndpoint.post("heartbeat", "/v1/nodes/:node_id/heartbeat")
      .setPath(NodePath).setPayload(Heartbeat)
      .addSuccess(Schema.Struct({ expires_at: Schema.String, cancel: Schema.Boolean }))
      .addError(NotFound).addError(Conflict).addError(PayloadTooLarge).addError(UnsupportedMediaType).addError(Unprocessable)
      .annotate(OpenApi.Summary, "Extend a lease; `cancel: true` tells the worker to stop")
  )
  .add(
    HttpApiEndpoint.post("complete", "/v1/nodes/:node_id/complete")
      .setPath(NodePath).setPayload(Complete)
      .addSuccess(Schema.Struct({ status: Schema.Literal("succeeded"), ready: Schema.Int }))
      .addError(NotFound).addError(Conflict).addError(PayloadTooLarge).addError(UnsupportedMediaType).addError(Unprocessable)
      .annotate(OpenApi.Summary, "Report a node's result (a stale or foreign lease_token is a 409)")
  )
  .add(
    HttpApiEndpoint.post("fail", "/v1/nodes/:node_id/fail")
      .setPath(NodePath).setPayload(Fail)
      .addSuccess(Schema.Struct({ status: Schema.Literal("retry_scheduled", "failed") }))
      .addError(NotFound).addError(Conflict).addError(PayloadTooLarge).addError(UnsupportedMediaType).addError(Unprocessable)
      .annotate(OpenApi.Summary, "Report a failure; retryable ones are retried with backoff up to MAX_ATTEMPTS")
  )
  .middleware(Authentication)
{}
