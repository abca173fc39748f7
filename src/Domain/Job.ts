// Jobs and their nodes as the API shows them (§3).
import { Schema } from "effect"

export const JobStatus = Schema.Literal("pending", "running", "succeeded", "failed", "cancelling", "cancelled")
export const NodeStatus = Schema.Literal("pending", "ready", "leased", "succeeded", "failed", "cancelled", "skipped")

export class Job extends Schema.Class<Job>("Job")({
  job_id: Schema.String,
  dataset_id: Schema.String,
  status: JobStatus,
  created_at: Schema.String,
  updated_at: Schema.String,
  nodes: Schema.Record({ key: Schema.String, value: Schema.Int }).annotations({ description: "`total` and a count per node status." }),
  graph: Schema.Struct({ by_kind: Schema.Record({ key: Schema.String, value: Schema.Int }) }),
  trainer: Schema.Struct({ uri: Schema.String, sha256: Schema.String }),
  request: Schema.Unknown.annotations({ description: "The request as submitted, teacher header values redacted." }),
  result: Schema.optional(Schema.Unknown)
}) {}

export class JobNode extends Schema.Class<JobNode>("JobNode")({
  node_id: Schema.String,
  job_id: Schema.String,
  key: Schema.String,
  kind: Schema.String,
  requires: Schema.String,
  params: Schema.Unknown,
  deps: Schema.Array(Schema.String),
  status: NodeStatus,
  attempts: Schema.Int,
  leased_by: Schema.optional(Schema.String),
  lease_expires_at: Schema.optional(Schema.String),
  ready_at: Schema.optional(Schema.String),
  result: Schema.optional(Schema.Unknown),
  error: Schema.optional(Schema.Unknown),
  updated_at: Schema.String
}) {}

export class SubmitResult extends Schema.Class<SubmitResult>("SubmitResult")({
  job_id: Schema.String,
  dataset_id: Schema.String
}) {}
