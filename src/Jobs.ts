// The read side of jobs: the projections as the API shows them, always scoped to the tenant.
import { SqlClient } from "@effect/sql"
import { Chunk, Data, Effect, Option, Schema, Stream } from "effect"
import { StoredEvent, terminalEvents } from "./Domain/Events.ts"
import { Job, JobNode } from "./Domain/Job.ts"
import { DEFAULT_LIMIT, encodeCursor } from "./Domain/Page.ts"
import { JobSignals } from "./JobSignals.ts"
import { type PictureFormat, render } from "./TrainerRun/Picture.ts"

const terminalStatuses = new Set(["succeeded", "failed", "cancelled"])

/** How often a follower looks for events written by other replicas (this process's own wake it at once). */
const FOLLOW_POLL_MILLIS = 500
const FOLLOW_BATCH = 500

export class JobNotFound extends Data.TaggedError("JobNotFound")<{ readonly jobId: string }> {}

interface JobRow {
  readonly job_id: string
  readonly dataset_id: string
  readonly status: string
  readonly request: unknown
  readonly trainer_uri: string
  readonly trainer_sha256: string
  readonly graph_summary: { total: number; by_kind: Record<string, number> }
  readonly result: unknown
  readonly position: string
  readonly created_at: Date
  readonly updated_at: Date
  readonly counts: Record<string, number> | null
}

const decodeJob = Schema.decodeUnknownSync(Job)
const decodeNode = Schema.decodeUnknownSync(JobNode)

const KIND_ORDER = ["prepare", "synth", "teacher_predict", "fit", "select", "refit", "ensemble", "sweep_point", "pareto", "finalize"]
const inGraphOrder = (byKind: Record<string, number>) =>
  Object.fromEntries(Object.entries(byKind).sort(([a], [b]) => KIND_ORDER.indexOf(a) - KIND_ORDER.indexOf(b)))

const toJob = (r: JobRow) =>
  decodeJob({
    job_id: r.job_id,
    dataset_id: r.dataset_id,
    status: r.status,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
    nodes: { total: r.graph_summary.total, ...(r.counts ?? {}) },
    graph: { by_kind: inGraphOrder(r.graph_summary.by_kind) },
    trainer: { uri: r.trainer_uri, sha256: r.trainer_sha256 },
    request: r.request,
    ...(r.result !== null && r.result !== undefined ? { result: r.result } : {})
  })

/**
 * An event as the API shows it. A lease token is the holder's credential: it stays in the log (replay
 * needs it) but never leaves through the API, or any reader of a job's events could report for its nodes.
 */
const withoutToken = ({ lease_token: _, ...data }: Record<string, unknown>) => data
const toStoredEvent = (r: any) =>
  new StoredEvent({
    ...r,
    data: r.type === "NodeLeased" ? withoutToken(r.data) : r.data,
    position: Number(r.position),
    recorded_at: (r.recorded_at as Date).toISOString()
  })

/** PostgreSQL text cannot hold NUL: a filter value with one matches nothing. */
const hasNul = (...values: ReadonlyArray<string | undefined>) => values.some((v) => v !== undefined && v.includes("\u0000"))

export class Jobs extends Effect.Service<Jobs>()("Jobs", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const signals = yield* JobSignals

    const select = sql`
      SELECT j.job_id, j.dataset_id, j.status, j.request, j.trainer_uri, j.trainer_sha256, j.graph_summary, j.result,
             j.position, j.created_at, j.updated_at,
             (SELECT jsonb_object_agg(status, n) FROM (SELECT status, count(*)::int AS n FROM computation_node c
               WHERE c.job_id = j.job_id GROUP BY status) s) AS counts
      FROM jobs j`

    // PostgreSQL text cannot hold NUL: such an id names nothing.
    const exists = (tenant: string, jobId: string) =>
      jobId.includes("\u0000") ? Effect.fail(new JobNotFound({ jobId: jobId.replaceAll("\u0000", "\\0") })) : sql`SELECT 1 FROM jobs WHERE tenant = ${tenant} AND job_id = ${jobId}`.pipe(
        Effect.flatMap((rows) => (rows.length === 0 ? Effect.fail(new JobNotFound({ jobId })) : Effect.void))
      )

    const get = Effect.fn("Jobs.get")(function*(tenant: string, jobId: string) {
      if (jobId.includes("\u0000")) return yield* new JobNotFound({ jobId: jobId.replaceAll("\u0000", "\\0") })
      const rows = yield* sql<JobRow>`${select} WHERE j.tenant = ${tenant} AND j.job_id = ${jobId}`
      if (rows.length === 0) return yield* new JobNotFound({ jobId })
      return toJob(rows[0]!)
    })

    const list = Effect.fn("Jobs.list")(function*(tenant: string, q: {
      readonly dataset_id?: string | undefined
      readonly status?: string | undefined
      readonly limit?: number | undefined
      readonly cursor?: number | undefined
    }) {
      const limit = q.limit ?? DEFAULT_LIMIT
      if (hasNul(q.dataset_id)) return { items: [], next_cursor: null }
      const rows = yield* sql<JobRow>`${select} WHERE ${sql.and([
        sql`j.tenant = ${tenant}`,
        ...(q.dataset_id !== undefined ? [sql`j.dataset_id = ${q.dataset_id}`] : []),
        ...(q.status !== undefined ? [sql`j.status = ${q.status}`] : []),
        ...(q.cursor !== undefined ? [sql`j.position < ${q.cursor}`] : [])
      ])} ORDER BY j.position DESC LIMIT ${limit + 1}`
      return {
        items: rows.slice(0, limit).map(toJob),
        next_cursor: rows.length > limit ? encodeCursor(Number(rows[limit - 1]!.position)) : null
      }
    })

    const nodes = Effect.fn("Jobs.nodes")(function*(tenant: string, jobId: string, q: {
      readonly status?: string | undefined
      readonly kind?: string | undefined
      readonly limit?: number | undefined
      readonly cursor?: number | undefined
    }) {
      yield* exists(tenant, jobId)
      const limit = q.limit ?? 500
      if (hasNul(q.kind, q.status)) return { items: [], next_cursor: null }
      const rows = yield* sql<any>`
        SELECT node_id, job_id, key, kind, requires, params, deps, status, attempts, updated_at, ordinal,
               leased_by, lease_expires_at, ready_at, result, error
        FROM computation_node WHERE ${sql.and([
        sql`job_id = ${jobId}`,
        ...(q.status !== undefined ? [sql`status = ${q.status}`] : []),
        ...(q.kind !== undefined ? [sql`kind = ${q.kind}`] : []),
        ...(q.cursor !== undefined ? [sql`ordinal > ${q.cursor - 1}`] : [])
      ])} ORDER BY ordinal LIMIT ${limit + 1}`
      return {
        items: rows.slice(0, limit).map(({ ordinal: _, leased_by, lease_expires_at, ready_at, result, error, ...r }: any) =>
          decodeNode({
            ...r,
            updated_at: (r.updated_at as Date).toISOString(),
            ...(leased_by !== null ? { leased_by } : {}),
            ...(lease_expires_at !== null ? { lease_expires_at: (lease_expires_at as Date).toISOString() } : {}),
            ...(ready_at !== null ? { ready_at: (ready_at as Date).toISOString() } : {}),
            ...(result !== null ? { result } : {}),
            ...(error !== null ? { error } : {})
          })
        ),
        next_cursor: rows.length > limit ? encodeCursor(rows[limit - 1]!.ordinal + 1) : null
      }
    })

    const events = Effect.fn("Jobs.events")(function*(tenant: string, jobId: string, q: { readonly limit?: number | undefined; readonly cursor?: number | undefined }) {
      yield* exists(tenant, jobId)
      const limit = q.limit ?? DEFAULT_LIMIT
      const rows = yield* sql<any>`
        SELECT position, stream_id, stream_version, type, schema_version, data, recorded_at FROM events
        WHERE stream_id = ${jobId} ${q.cursor !== undefined ? sql`AND stream_version > ${q.cursor}` : sql``}
        ORDER BY stream_version LIMIT ${limit + 1}`
      const items = rows.slice(0, limit).map(toStoredEvent)
      return { items, next_cursor: rows.length > limit ? encodeCursor(rows[limit - 1]!.stream_version) : null }
    })

    const eventsAfter = (jobId: string, after: number) =>
      sql<any>`
        SELECT position, stream_id, stream_version, type, schema_version, data, recorded_at FROM events
        WHERE stream_id = ${jobId} AND stream_version > ${after} ORDER BY stream_version LIMIT ${FOLLOW_BATCH}`.pipe(
        Effect.map((rows) => rows.map(toStoredEvent))
      )

    const status = (jobId: string) =>
      sql<{ status: string }>`SELECT status FROM jobs WHERE job_id = ${jobId}`.pipe(Effect.map((rows) => rows[0]?.status))

    /**
     * The job's events after stream version `after`, then each new one as it commits, ending after the
     * job's terminal event. A stream's versions are gap-free in commit order: each is taken with the
     * job row locked and the (stream_id, stream_version) key refuses a second writer of the same
     * version, so version N+1 can only commit after N did. Reading "versions after the last one sent"
     * therefore never skips an event that commits late, nor repeats one — the global-position gap of
     * Postgres event stores cannot open inside one stream. `Option.none()` marks the end: with
     * `ended` the caller learns that the job was already over with nothing left to send.
     */
    const follow = Effect.fn("Jobs.follow")(function*(tenant: string, jobId: string, after: number) {
      yield* exists(tenant, jobId)
      const finished = terminalStatuses.has((yield* status(jobId)) ?? "") && (yield* eventsAfter(jobId, after)).length === 0
      const stream = Stream.unwrapScoped(Effect.gen(function*() {
        const wait = yield* signals.subscribe(jobId)
        return Stream.paginateChunkEffect({ last: after, done: false }, (state) =>
          Effect.gen(function*() {
            if (state.done) return [Chunk.empty<StoredEvent>(), Option.none()] as const
            // The status is read before the events: a job seen ended has all its events committed.
            const ended = terminalStatuses.has((yield* status(jobId)) ?? "")
            const batch = yield* eventsAfter(jobId, state.last)
            if (batch.length === 0) {
              if (ended) return [Chunk.empty<StoredEvent>(), Option.none()] as const
              yield* wait(FOLLOW_POLL_MILLIS)
              return [Chunk.empty<StoredEvent>(), Option.some(state)] as const
            }
            const last = batch[batch.length - 1]!.stream_version
            const done = batch.some((e) => terminalEvents.has(e.type))
            return [Chunk.fromIterable(batch), Option.some({ last, done })] as const
          })
        )
      }))
      return { finished, stream }
    })

    /** The job's graph as a picture: fits grouped per family, each box with its nodes' statuses. */
    const picture = Effect.fn("Jobs.picture")(function*(tenant: string, jobId: string, format: PictureFormat) {
      yield* exists(tenant, jobId)
      const rows = yield* sql<{ key: string; kind: string; deps: Array<string>; family: string | null; status: string }>`
        SELECT key, kind, deps, params->>'family' AS family, status FROM computation_node WHERE job_id = ${jobId} ORDER BY ordinal`
      const prefix = `${jobId}.`
      return render(
        rows.map((r) => ({
          key: r.key,
          kind: r.kind,
          deps: r.deps.map((d) => (d.startsWith(prefix) ? d.slice(prefix.length) : d)),
          params: r.family !== null ? { family: r.family } : {},
          status: r.status
        })),
        format,
        jobId
      )
    })

    return { get, list, nodes, events, follow, picture } as const
  }),
  dependencies: [JobSignals.Default]
}) {}
