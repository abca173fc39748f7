// Projections: pure functions from (current row, event) to the next row. The live write path and
// replay use these same functions, so the tables are always what the log says.
import type { Dataset } from "./Domain/Dataset.ts"
import type { DatasetRegistered, JobEvent, JobSubmitted } from "./Domain/Events.ts"

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

export interface JobRow {
  readonly job_id: string
  readonly tenant: string
  readonly dataset_id: string
  readonly status: string
  readonly request: unknown
  readonly trainer_uri: string
  readonly trainer_sha256: string
  readonly graph_summary: { readonly total: number; readonly by_kind: Record<string, number> }
  readonly result: unknown
  readonly idempotency_key: string | null
  readonly version: number
  readonly position: number
  readonly created_at: string
  readonly updated_at: string
}

export interface NodeRow {
  readonly lease_token?: string | null
  readonly leased_by?: string | null
  readonly lease_expires_at?: string | null
  readonly ready_at?: string | null
  readonly result?: unknown
  readonly error?: unknown
  readonly node_id: string
  readonly job_id: string
  readonly ordinal: number
  readonly key: string
  readonly kind: string
  readonly requires: string
  readonly params: unknown
  readonly deps: ReadonlyArray<string>
  readonly status: string
  readonly attempts: number
  readonly updated_at: string
}

export const nodeId = (jobId: string, key: string) => `${jobId}.${key}`

/** A submitted job: `pending` until a worker leases a node; roots are `ready`, the rest `pending`. */
export const projectJobSubmitted = (
  _state: JobRow | undefined,
  { event, position }: Positioned<JobSubmitted>
): { readonly job: JobRow; readonly nodes: ReadonlyArray<NodeRow> } => {
  const by_kind: Record<string, number> = {}
  for (const n of event.graph.nodes) by_kind[n.kind] = (by_kind[n.kind] ?? 0) + 1
  return {
    job: {
      job_id: event.job_id,
      tenant: event.tenant,
      dataset_id: event.dataset_id,
      status: "pending",
      request: event.request,
      trainer_uri: event.trainer.uri,
      trainer_sha256: event.trainer.sha256,
      graph_summary: { total: event.graph.nodes.length, by_kind },
      result: null,
      idempotency_key: event.idempotency?.key ?? null,
      version: 1,
      position,
      created_at: event.submitted_at,
      updated_at: event.submitted_at
    },
    nodes: event.graph.nodes.map((n, ordinal) => ({
      node_id: nodeId(event.job_id, n.key),
      job_id: event.job_id,
      ordinal,
      key: n.key,
      kind: n.kind,
      requires: n.requires,
      params: n.params,
      deps: n.deps.map((d) => nodeId(event.job_id, d)),
      status: n.deps.length === 0 ? "ready" : "pending",
      attempts: 0,
      updated_at: event.submitted_at
    }))
  }
}

export interface IdempotencyRow {
  readonly tenant: string
  readonly key: string
  readonly request_hash: string
  readonly job_id: string
  readonly created_at: string
}

/** The idempotency key a submission carried, if any. */
export const projectIdempotency = (event: JobSubmitted): IdempotencyRow | undefined =>
  event.idempotency
    ? { tenant: event.tenant, key: event.idempotency.key, request_hash: event.idempotency.request_hash, job_id: event.job_id, created_at: event.submitted_at }
    : undefined

/**
 * Any later event of a job stream, applied to the job and the nodes it touches (only those need to
 * be given). Returns the new job row and the node rows that changed.
 */
export const projectJobEvent = (
  job: JobRow,
  nodes: ReadonlyMap<string, NodeRow>,
  { event, position: _position }: Positioned<JobEvent>
): { readonly job: JobRow; readonly nodes: ReadonlyArray<NodeRow> } => {
  const touched = (id: string) => {
    const n = nodes.get(id)
    if (!n) throw new Error(`${event._tag} names node ${id}, which is not in job ${job.job_id}`)
    return n
  }
  const next = { ...job, version: job.version + 1, updated_at: event.at }
  switch (event._tag) {
    case "NodeLeased": {
      const n = touched(event.node_id)
      return {
        job: { ...next, status: job.status === "pending" ? "running" : job.status },
        nodes: [{ ...n, status: "leased", attempts: event.attempt, lease_token: event.lease_token, leased_by: event.worker_id, lease_expires_at: event.expires_at, ready_at: null, updated_at: event.at }]
      }
    }
    case "NodeHeartbeat":
      return { job: next, nodes: [{ ...touched(event.node_id), lease_expires_at: event.expires_at, updated_at: event.at }] }
    case "NodeSucceeded":
      return { job: next, nodes: [{ ...touched(event.node_id), status: "succeeded", result: event.result, lease_token: null, lease_expires_at: null, updated_at: event.at }] }
    case "NodeFailed":
      return {
        job: next,
        nodes: [{ ...touched(event.node_id), status: event.final ? "failed" : "pending", error: event.error, lease_token: null, lease_expires_at: null, updated_at: event.at }]
      }
    case "NodeLeaseExpired":
      return { job: next, nodes: [{ ...touched(event.node_id), status: "ready", lease_token: null, leased_by: null, lease_expires_at: null, updated_at: event.at }] }
    case "NodeRetryScheduled":
      return { job: next, nodes: [{ ...touched(event.node_id), status: "ready", ready_at: event.ready_at, updated_at: event.at }] }
    case "NodeReady":
      return { job: next, nodes: event.node_ids.map((id) => ({ ...touched(id), status: "ready", updated_at: event.at })) }
    case "NodeSkipped":
      return { job: next, nodes: event.node_ids.map((id) => ({ ...touched(id), status: "skipped", error: { message: event.reason }, updated_at: event.at })) }
    case "JobCancelRequested":
      return { job: { ...next, status: "cancelling" }, nodes: [] }
    case "JobCancelled":
      return { job: { ...next, status: "cancelled" }, nodes: event.node_ids.map((id) => ({ ...touched(id), status: "cancelled", updated_at: event.at })) }
    case "JobSucceeded":
      return { job: { ...next, status: "succeeded", result: event.result }, nodes: [] }
    case "JobFailed":
      // What was still waiting will not run: skipped, saying why (a cancelled job's leftovers are `cancelled`).
      return {
        job: { ...next, status: "failed", result: { reason: event.reason } },
        nodes: event.node_ids.map((id) => ({ ...touched(id), status: "skipped", error: { message: `job failed: ${event.reason}` }, updated_at: event.at }))
      }
  }
}

/** The node ids a job event touches (what the live path loads before projecting). */
export const touchedNodes = (event: JobEvent): ReadonlyArray<string> =>
  event._tag === "NodeReady" || event._tag === "JobCancelled" || event._tag === "NodeSkipped" || event._tag === "JobFailed"
    ? event.node_ids
    : "node_id" in event
    ? [event.node_id]
    : []
