// Projections: pure functions from (current row, event) to the next row. The live write path and
// replay use these same functions, so the tables are always what the log says.
import type { Dataset } from "./Domain/Dataset.ts"
import type { DatasetRegistered } from "./Domain/Events.ts"

export interface DatasetRow {
  readonly dataset_id: string
  readonly tenant: string
  readonly name: string
  readonly format: string
  readonly size_bytes: number
  readonly sha256: string
  readonly uri: string
  readonly row_count: number
  readonly profile: Dataset["profile"]
  readonly created_at: string
  readonly position: number
}

export interface Positioned<E> {
  readonly position: number
  readonly event: E
}

export const projectDataset = (_state: DatasetRow | undefined, { event, position }: Positioned<DatasetRegistered>): DatasetRow => ({
  dataset_id: event.dataset.dataset_id,
  tenant: event.tenant,
  name: event.dataset.name,
  format: event.dataset.format,
  size_bytes: event.dataset.size_bytes,
  sha256: event.dataset.sha256,
  uri: event.dataset.uri,
  row_count: event.dataset.profile.rows,
  profile: event.dataset.profile,
  created_at: event.dataset.created_at,
  position
})
