// Domain events: what the log records. `type` is the tag; `data` is the rest, versioned by `schema_version`.
import { Schema } from "effect"
import { Dataset } from "./Dataset.ts"

export const DatasetRegistered = Schema.TaggedStruct("DatasetRegistered", {
  tenant: Schema.String,
  dataset: Dataset
})
export type DatasetRegistered = typeof DatasetRegistered.Type

/** A job and its whole graph: replaying this one event rebuilds the job and every node. */
export const JobSubmitted = Schema.TaggedStruct("JobSubmitted", {
  tenant: Schema.String,
  job_id: Schema.String,
  dataset_id: Schema.String,
  submitted_at: Schema.String,
  trainer: Schema.Struct({ uri: Schema.String, sha256: Schema.String }),
  request: Schema.Unknown,
  idempotency: Schema.NullOr(Schema.Struct({ key: Schema.String, request_hash: Schema.String })),
  graph: Schema.Struct({
    version: Schema.Literal(1),
    nodes: Schema.Array(Schema.Struct({
      key: Schema.String,
      kind: Schema.String,
      requires: Schema.String,
      params: Schema.Unknown,
      deps: Schema.Array(Schema.String)
    }))
  })
})
export type JobSubmitted = typeof JobSubmitted.Type

const nodeRef = { job_id: Schema.String, node_id: Schema.String, at: Schema.String }

/** A worker took a ready node; `lease_token` fences every later report about it. */
export const NodeLeased = Schema.TaggedStruct("NodeLeased", {
  ...nodeRef,
  worker_id: Schema.String,
  lease_token: Schema.String,
  expires_at: Schema.String,
  attempt: Schema.Int
})
export const NodeHeartbeat = Schema.TaggedStruct("NodeHeartbeat", { ...nodeRef, expires_at: Schema.String })
export const NodeSucceeded = Schema.TaggedStruct("NodeSucceeded", { ...nodeRef, result: Schema.Unknown })
export const NodeFailed = Schema.TaggedStruct("NodeFailed", {
  ...nodeRef,
  error: Schema.Struct({ message: Schema.String, retryable: Schema.Boolean }),
  attempt: Schema.Int,
  final: Schema.Boolean
})
/** A lease ran out before its holder reported: the node is ready for another worker. */
export const NodeLeaseExpired = Schema.TaggedStruct("NodeLeaseExpired", { ...nodeRef, worker_id: Schema.NullOr(Schema.String) })
export const NodeRetryScheduled = Schema.TaggedStruct("NodeRetryScheduled", { ...nodeRef, ready_at: Schema.String })
/** Dependents whose dependencies are all settled. */
export const NodeReady = Schema.TaggedStruct("NodeReady", { job_id: Schema.String, node_ids: Schema.Array(Schema.String), at: Schema.String })
/** Nodes that will not run, and why (a family with no successful trial is dropped, §7). */
export const NodeSkipped = Schema.TaggedStruct("NodeSkipped", { job_id: Schema.String, node_ids: Schema.Array(Schema.String), reason: Schema.String, at: Schema.String })
export const JobCancelRequested = Schema.TaggedStruct("JobCancelRequested", { job_id: Schema.String, at: Schema.String })
/** The job ended cancelled; `node_ids` are the nodes that will now never run. */
export const JobCancelled = Schema.TaggedStruct("JobCancelled", { job_id: Schema.String, node_ids: Schema.Array(Schema.String), at: Schema.String })
export const JobSucceeded = Schema.TaggedStruct("JobSucceeded", { job_id: Schema.String, result: Schema.Unknown, at: Schema.String })
/** v2 adds `node_ids`: the nodes still pending or ready, which the failure leaves `skipped`. */
export const JobFailed = Schema.TaggedStruct("JobFailed", { job_id: Schema.String, reason: Schema.String, node_ids: Schema.Array(Schema.String), at: Schema.String })

export const JobEvent = Schema.Union(NodeLeased, NodeHeartbeat, NodeSucceeded, NodeFailed, NodeLeaseExpired, NodeRetryScheduled, NodeReady, NodeSkipped, JobCancelRequested, JobCancelled, JobSucceeded, JobFailed)
export type JobEvent = typeof JobEvent.Type

export const DomainEvent = Schema.Union(DatasetRegistered, JobSubmitted, JobEvent)
export type DomainEvent = typeof DomainEvent.Type

/** The schema version each event type is written with today; upcasters lift older ones. */
export const currentSchemaVersion: Record<DomainEvent["_tag"], number> = {
  DatasetRegistered: 1,
  JobSubmitted: 1,
  NodeLeased: 1,
  NodeHeartbeat: 1,
  NodeSucceeded: 1,
  NodeFailed: 1,
  NodeLeaseExpired: 1,
  NodeRetryScheduled: 1,
  NodeReady: 1,
  NodeSkipped: 1,
  JobCancelRequested: 1,
  JobCancelled: 1,
  JobSucceeded: 1,
  JobFailed: 2
}

export interface EventMetadata {
  readonly tenant: string
  readonly request_id?: string | undefined
  readonly idempotency_key?: string | undefined
  readonly trace_id?: string | undefined
}

/** The events after which a job's stream has nothing more to say. */
export const terminalEvents: ReadonlySet<string> = new Set(["JobSucceeded", "JobFailed", "JobCancelled"])

/** An event as the API shows it. */
export class StoredEvent extends Schema.Class<StoredEvent>("StoredEvent")({
  position: Schema.Int,
  stream_id: Schema.String,
  stream_version: Schema.Int,
  type: Schema.String,
  schema_version: Schema.Int,
  data: Schema.Unknown,
  recorded_at: Schema.String
}) {}
