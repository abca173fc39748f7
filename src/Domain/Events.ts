// Domain events: what the log records. `type` is the tag; `data` is the rest, versioned by `schema_version`.
import { Schema } from "effect"
import { Dataset } from "./Dataset.ts"

export const DatasetRegistered = Schema.TaggedStruct("DatasetRegistered", {
  tenant: Schema.String,
  dataset: Dataset
})
export type DatasetRegistered = typeof DatasetRegistered.Type

export const DomainEvent = Schema.Union(DatasetRegistered)
export type DomainEvent = typeof DomainEvent.Type

/** The schema version each event type is written with today; upcasters lift older ones. */
export const currentSchemaVersion: Record<DomainEvent["_tag"], number> = {
  DatasetRegistered: 1
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
