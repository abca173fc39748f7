// Replay for audits (§7): rebuild every projection from the event log alone, with the same pure
// projection functions as the live path, into a scratch schema, and diff it with the live tables.
import { SqlClient } from "@effect/sql"
import { Effect, Schema } from "effect"
import { DatasetRegistered, JobEvent, JobSubmitted } from "../Domain/Events.ts"
import {
  type DatasetRow,
  type IdempotencyRow,
  type JobRow,
  type NodeRow,
  projectDataset,
  projectIdempotency,
  projectJobEvent,
  projectJobSubmitted
} from "../Projection.ts"

export interface StoredRow {
  readonly position: number
  readonly type: string
  readonly schema_version: number
  readonly data: unknown
}

/**
 * Upcasters lift an event written under an older schema version to the current one, so an old log
 * still replays. `upcasters[type][v]` turns version v into v + 1.
 */
export const upcasters: Record<string, Record<number, (data: any) => any>> = {
  // JobFailed v1 left the job's waiting nodes as they were: none to close.
  JobFailed: { 1: (d) => ({ ...d, node_ids: [] }) }
}

export const upcast = (type: string, version: number, data: unknown) => {
  let v = version
  let d = data
  while (upcasters[type]?.[v]) d = upcasters[type]![v++]!(d)
  return d
}

const decodeDataset = Schema.decodeUnknownSync(DatasetRegistered)
const decodeJob = Schema.decodeUnknownSync(JobSubmitted)
const decodeJobEvent = Schema.decodeUnknownSync(JobEvent)

export interface ProjectionState {
  readonly datasets: Map<string, DatasetRow>
  readonly jobs: Map<string, JobRow>
  readonly nodes: Map<string, NodeRow>
  readonly idempotency: Map<string, IdempotencyRow>
}

export const emptyState = (): ProjectionState => ({ datasets: new Map(), jobs: new Map(), nodes: new Map(), idempotency: new Map() })

/** Applies one stored event to the in-memory projections (mutating for speed; pure per event). */
export const applyEvent = (state: ProjectionState, row: StoredRow): void => {
  const data = upcast(row.type, row.schema_version, row.data) as Record<string, unknown>
  switch (row.type) {
    case "DatasetRegistered": {
      const event = decodeDataset({ _tag: row.type, ...data })
      const next = projectDataset(state.datasets.get(event.dataset.dataset_id), { event, position: row.position })
      state.datasets.set(next.dataset_id, next)
      return
    }
    case "JobSubmitted": {
      const event = decodeJob({ _tag: row.type, ...data })
      const { job, nodes } = projectJobSubmitted(state.jobs.get(event.job_id), { event, position: row.position })
      state.jobs.set(job.job_id, job)
      for (const n of nodes) state.nodes.set(n.node_id, n)
      const key = projectIdempotency(event)
      if (key) state.idempotency.set(`${key.tenant}\u0000${key.key}`, key)
      return
    }
    default: {
      const event = decodeJobEvent({ _tag: row.type, ...data })
      const job = state.jobs.get(event.job_id)
      if (!job) throw new Error(`event ${row.position} (${row.type}) names job ${event.job_id}, which no JobSubmitted created`)
      const next = projectJobEvent(job, state.nodes, { event, position: row.position })
      state.jobs.set(next.job.job_id, next.job)
      for (const n of next.nodes) state.nodes.set(n.node_id, n)
    }
  }
}

export interface Difference {
  readonly table: string
  readonly key: string
  readonly live: unknown
  readonly replayed: unknown
}

const TABLES = [
  { table: "datasets", key: "dataset_id" },
  { table: "jobs", key: "job_id" },
  { table: "computation_node", key: "node_id" },
  { table: "idempotency_keys", key: "tenant || '/' || key" }
] as const

export class Replay extends Effect.Service<Replay>()("Scheduler/Replay", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** Folds the whole log, page by page, in position order. */
    const rebuild = Effect.gen(function*() {
      const state = emptyState()
      let after = 0
      let events = 0
      while (true) {
        const rows = yield* sql<{ position: string; type: string; schema_version: number; data: unknown }>`
          SELECT position, type, schema_version, data FROM events WHERE position > ${after} ORDER BY position LIMIT 2000`
        for (const r of rows) applyEvent(state, { ...r, position: Number(r.position) })
        events += rows.length
        if (rows.length < 2000) break
        after = Number(rows[rows.length - 1]!.position)
      }
      return { state, events }
    })

    /** Rebuilds into a scratch schema and lists every row that differs from the live tables. */
    const audit = Effect.fn("Replay.audit")(function*(options: { readonly keep?: boolean; readonly limit?: number } = {}) {
      return yield* auditInSnapshot(options).pipe(sql.withTransaction)
    })

    /**
     * The log and the live tables are read in one snapshot (REPEATABLE READ), so a running service
     * committing meanwhile (a lease sweep, a completion) cannot show up as a difference.
     */
    const auditInSnapshot = (options: { readonly keep?: boolean; readonly limit?: number }) => Effect.gen(function*() {
      yield* sql`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ`
      const { state, events } = yield* rebuild
      const scratch = `audit_${Date.now()}_${Math.floor(Math.random() * 1e6)}`
      const rowsOf: Record<string, ReadonlyArray<unknown>> = {
        datasets: [...state.datasets.values()],
        jobs: [...state.jobs.values()],
        computation_node: [...state.nodes.values()],
        idempotency_keys: [...state.idempotency.values()]
      }
      yield* sql.unsafe(`CREATE SCHEMA ${scratch}`)
      const differences: Array<Difference> = []
      yield* Effect.gen(function*() {
        for (const { table, key } of TABLES) {
          yield* sql.unsafe(`CREATE TABLE ${scratch}.${table} (LIKE public.${table})`)
          const rows = rowsOf[table]!
          for (let i = 0; i < rows.length; i += 5000) {
            yield* sql.unsafe(
              `INSERT INTO ${scratch}.${table} SELECT * FROM jsonb_populate_recordset(NULL::${scratch}.${table}, $1::jsonb)`,
              [JSON.stringify(rows.slice(i, i + 5000))]
            )
          }
          const found = yield* sql.unsafe<{ k: string; live: unknown; replayed: unknown }>(
            `SELECT coalesce(l.k, r.k) AS k, l.j AS live, r.j AS replayed
             FROM (SELECT ${key} AS k, to_jsonb(t) AS j FROM public.${table} t) l
             FULL JOIN (SELECT ${key} AS k, to_jsonb(t) AS j FROM ${scratch}.${table} t) r ON l.k = r.k
             WHERE l.j IS DISTINCT FROM r.j ORDER BY 1 LIMIT ${options.limit ?? 100}`
          )
          for (const d of found) differences.push({ table, key: d.k, live: d.live, replayed: d.replayed })
        }
      }).pipe(Effect.ensuring(options.keep ? Effect.void : sql.unsafe(`DROP SCHEMA ${scratch} CASCADE`).pipe(Effect.ignore)))
      return {
        events,
        rows: Object.fromEntries(Object.entries(rowsOf).map(([t, r]) => [t, r.length])),
        differences,
        scratch_schema: options.keep ? scratch : null
      }
    })

    return { rebuild, audit } as const
  })
}) {}
