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

export const DomainEvent = Schema.Union(DatasetRegistered, JobSubmitted)
export type DomainEvent = typeof DomainEvent.Type

/** The schema version each event type is written with today; upcasters lift older ones. */
export const currentSchemaVersion: Record<DomainEvent["_tag"], number> = {
  DatasetRegistered: 1,
  JobSubmitted: 1
}

export interface EventMetadata {
  readonly tenant: string
  readonly request_id?: string | undefined
  readonly idempotency_key?: string | undefined
  readonly trace_id?: string | undefined
}

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
