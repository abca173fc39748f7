// The worker protocol (§7): lease ready nodes, heartbeat, complete, fail. Every change is a job
// event appended with the job row locked (per-stream versions stay gap-free), projected by the
// same pure function replay uses. A lease token fences every report: stale or foreign → 409.
import { SqlClient } from "@effect/sql"
import { Data, Effect, FiberRef, Metric, Schedule } from "effect"
import * as Crypto from "node:crypto"
import { AppConfig } from "./Config.ts"
import type { EventMetadata, JobEvent } from "./Domain/Events.ts"
import { EventLog } from "./EventLog.ts"
import { JobSignals } from "./JobSignals.ts"
import { nodeEvents } from "./Metrics.ts"
import { type JobRow, type NodeRow, projectJobEvent, touchedNodes } from "./Projection.ts"

export class LeaseConflict extends Data.TaggedError("LeaseConflict")<{ readonly nodeId: string; readonly reason: string }> {}
export class JobFinished extends Data.TaggedError("JobFinished")<{ readonly jobId: string; readonly status: string }> {}
export class JobMissing extends Data.TaggedError("JobMissing")<{ readonly jobId: string }> {}
export class NodeNotFound extends Data.TaggedError("NodeNotFound")<{ readonly nodeId: string }> {}

export interface LeaseRequest {
  readonly worker_id: string
  readonly capabilities: ReadonlyArray<string> | null
  readonly max_nodes: number
  readonly lease_seconds?: number | undefined
}

/** What a transaction appended (jobs, event types), signalled and counted once it commits. */
interface Appended {
  readonly jobs: Set<string>
  readonly types: Map<string, number>
}
const appended = FiberRef.unsafeMake<Appended | undefined>(undefined)

/**
 * PostgreSQL errors a transaction may hit only because another one ran at the same time: a deadlock
 * (40P01), a serialization failure (40001), or another replica taking the same stream version first
 * (23505 on the events' (stream_id, stream_version) key). Running the transaction again is safe.
 */
const isContention = (error: unknown) => {
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code
  return code === "40P01" || code === "40001" || code === "23505"
}

/** Retry backoff: 2^attempt seconds, at most five minutes. */
export const backoffSeconds = (attempt: number) => Math.min(300, 2 ** attempt)

export class Workers extends Effect.Service<Workers>()("Workers", {
  scoped: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const log = yield* EventLog
    const { limits } = yield* AppConfig
    const signals = yield* JobSignals

    /** One transaction, run again on contention; followers of the jobs it touched are woken after commit. */
    const transact = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.gen(function*() {
        let current: Appended = { jobs: new Set(), types: new Map() }
        const attempt = Effect.suspend(() => {
          current = { jobs: new Set(), types: new Map() }
          return Effect.locally(sql.withTransaction(effect), appended, current)
        })
        const result = yield* attempt.pipe(
          Effect.retry({ while: isContention, schedule: Schedule.jittered(Schedule.exponential("5 millis")), times: 8 })
        )
        yield* signals.publish(current.jobs)
        for (const [type, n] of current.types) yield* Metric.incrementBy(Metric.tagged(nodeEvents, "type", type), n)
        return result
      })

    const nodeRows = (ids: ReadonlyArray<string>) =>
      ids.length === 0
        ? Effect.succeed([] as Array<NodeRow>)
        : sql<{ row: NodeRow }>`SELECT to_jsonb(c) AS row FROM computation_node c WHERE node_id IN ${sql.in(ids)}`.pipe(
          Effect.map((rows) => rows.map((r) => r.row))
        )

    /** Appends events to one job's stream and projects them; call inside a transaction. */
    const appendToJob = (jobId: string, events: ReadonlyArray<JobEvent>, metadata: EventMetadata) =>
      Effect.gen(function*() {
        if (events.length === 0) return
        const record = yield* FiberRef.get(appended)
        if (record) {
          record.jobs.add(jobId)
          for (const e of events) record.types.set(e._tag, (record.types.get(e._tag) ?? 0) + 1)
        }
        const [locked] = yield* sql<{ row: JobRow }>`SELECT to_jsonb(j) AS row FROM jobs j WHERE job_id = ${jobId} FOR UPDATE`
        let job = locked!.row
        const nodes = new Map((yield* nodeRows([...new Set(events.flatMap(touchedNodes))])).map((n) => [n.node_id, n]))
        const changed = new Map<string, NodeRow>()
        const first = job.version + 1
        for (const event of events) {
          const next = projectJobEvent(job, nodes, { event, position: 0 })
          job = next.job
          for (const n of next.nodes) {
            nodes.set(n.node_id, n)
            changed.set(n.node_id, n)
          }
        }
        yield* log.append(events.map((event, i) => ({ streamId: jobId, streamVersion: first + i, event, metadata })))
        yield* sql`UPDATE jobs j SET status = r.status, version = r.version, updated_at = r.updated_at, result = r.result
          FROM jsonb_populate_record(NULL::jobs, ${JSON.stringify(job)}::jsonb) r WHERE j.job_id = r.job_id`
        if (changed.size > 0) {
          yield* sql`UPDATE computation_node c SET status = r.status, attempts = r.attempts, lease_token = r.lease_token,
              leased_by = r.leased_by, lease_expires_at = r.lease_expires_at, ready_at = r.ready_at, result = r.result,
              error = r.error, updated_at = r.updated_at
            FROM jsonb_populate_recordset(NULL::computation_node, ${JSON.stringify([...changed.values()])}::jsonb) r
            WHERE c.node_id = r.node_id`
        }
      })

    /** Returns nodes whose lease ran out to ready (NodeLeaseExpired); call inside a transaction. */
    const expireLeases = (now: Date) =>
      Effect.gen(function*() {
        const expired = yield* sql<{ node_id: string; job_id: string; leased_by: string | null }>`
          SELECT node_id, job_id, leased_by FROM computation_node
          WHERE status = 'leased' AND lease_expires_at <= ${now.toISOString()}::timestamptz
          ORDER BY lease_expires_at LIMIT 500 FOR UPDATE SKIP LOCKED`
        const byJob = new Map<string, Array<JobEvent>>()
        for (const e of expired) {
          byJob.set(e.job_id, [...(byJob.get(e.job_id) ?? []), { _tag: "NodeLeaseExpired", job_id: e.job_id, node_id: e.node_id, worker_id: e.leased_by, at: now.toISOString() }])
        }
        // Jobs are locked in one order (by id) everywhere several are locked, so two writers cannot deadlock.
        for (const [jobId, events] of [...byJob].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
          yield* appendToJob(jobId, events, { tenant: "system" })
          yield* settleCancelling(jobId, now.toISOString(), { tenant: "system" })
        }
        return expired.length
      })

    // The sweeper: expired leases go back to ready even when no worker asks for work.
    yield* Effect.forkScoped(
      transact(Effect.suspend(() => expireLeases(new Date()))).pipe(
        Effect.catchAllCause((cause) => Effect.logWarning("lease sweep failed", cause)),
        Effect.delay(`${limits.leaseSweepSeconds} seconds`),
        Effect.forever
      )
    )

    /** A job's nodes still waiting to run (pending or ready), in graph order. */
    const waitingNodes = (jobId: string) =>
      sql<{ node_id: string }>`SELECT node_id FROM computation_node WHERE job_id = ${jobId} AND status IN ('pending', 'ready') ORDER BY ordinal`.pipe(
        Effect.map((rows) => rows.map((r) => r.node_id))
      )

    /** A cancelling job with no node under lease any more ends cancelled. */
    const settleCancelling = (jobId: string, at: string, metadata: EventMetadata) =>
      Effect.gen(function*() {
        const [state] = yield* sql<{ status: string; leased: number }>`
          SELECT j.status, (SELECT count(*)::int FROM computation_node c WHERE c.job_id = j.job_id AND c.status = 'leased') AS leased
          FROM jobs j WHERE j.job_id = ${jobId}`
        if (state?.status !== "cancelling" || state.leased > 0) return false
        const open = yield* sql<{ node_id: string }>`SELECT node_id FROM computation_node WHERE job_id = ${jobId} AND status IN ('pending', 'ready') ORDER BY ordinal`
        yield* appendToJob(jobId, [{ _tag: "JobCancelled", job_id: jobId, node_ids: open.map((n) => n.node_id), at }], metadata)
        return true
      })

    /** Cancels a job: no new leases; running workers learn it at their next heartbeat; ends cancelled once none holds a lease. */
    const cancel = Effect.fn("Workers.cancel")(function*(tenant: string, jobId: string, metadata: EventMetadata) {
      return yield* Effect.gen(function*() {
        const rows = jobId.includes("\u0000") ? [] : yield* sql<{ status: string }>`SELECT status FROM jobs WHERE tenant = ${tenant} AND job_id = ${jobId} FOR UPDATE`
        if (rows.length === 0) return yield* new JobMissing({ jobId })
        const status = rows[0]!.status
        if (status === "cancelled" || status === "cancelling") return status
        if (status === "succeeded" || status === "failed") return yield* new JobFinished({ jobId, status })
        const at = new Date().toISOString()
        yield* appendToJob(jobId, [{ _tag: "JobCancelRequested", job_id: jobId, at }], metadata)
        return (yield* settleCancelling(jobId, at, metadata)) ? "cancelled" : "cancelling"
      }).pipe(transact)
    })

    const lease = Effect.fn("Workers.lease")(function*(tenant: string, request: LeaseRequest, metadata: EventMetadata) {
      const seconds = Math.min(request.lease_seconds ?? limits.leaseSeconds, limits.maxLeaseSeconds)
      return yield* Effect.gen(function*() {
        const now = new Date()
        yield* expireLeases(now)
        const caps = request.capabilities
        const candidates = yield* sql<{ node_id: string; job_id: string }>`
          SELECT n.node_id, n.job_id FROM computation_node n JOIN jobs j ON j.job_id = n.job_id
          WHERE j.tenant = ${tenant} AND j.status IN ('pending', 'running') AND n.status = 'ready'
            AND (n.ready_at IS NULL OR n.ready_at <= ${now.toISOString()}::timestamptz)
            ${caps === null ? sql`` : caps.length === 0 ? sql`AND false` : sql`AND n.requires IN ${sql.in(caps)}`}
          ORDER BY j.position, n.ordinal
          LIMIT ${request.max_nodes}
          FOR UPDATE OF n SKIP LOCKED`
        // The job may have been cancelled or ended after the candidates were read: lock each job, then check.
        const jobIds = [...new Set(candidates.map((c) => c.job_id))].sort()
        const open = jobIds.length === 0 ? new Set<string>() : new Set((yield* sql<{ job_id: string }>`
          SELECT job_id FROM jobs WHERE job_id IN ${sql.in(jobIds)} AND status IN ('pending', 'running')
          ORDER BY job_id FOR UPDATE`).map((r) => r.job_id))
        const at = now.toISOString()
        const expires_at = new Date(now.getTime() + seconds * 1000).toISOString()
        const leases: Array<{ node_id: string; job_id: string; lease_token: string }> = []
        const byJob = new Map<string, Array<string>>()
        for (const c of candidates) {
          if (open.has(c.job_id)) byJob.set(c.job_id, [...(byJob.get(c.job_id) ?? []), c.node_id])
        }
        for (const [jobId, ids] of byJob) {
          const current = new Map((yield* nodeRows(ids)).map((n) => [n.node_id, n]))
          const events: Array<JobEvent> = ids.map((node_id) => {
            const lease_token = Crypto.randomBytes(24).toString("base64url")
            leases.push({ node_id, job_id: jobId, lease_token })
            return { _tag: "NodeLeased", job_id: jobId, node_id, worker_id: request.worker_id, lease_token, expires_at, attempt: current.get(node_id)!.attempts + 1, at }
          })
          yield* appendToJob(jobId, events, metadata)
        }
        if (leases.length === 0) return []
        const rows = yield* sql<{ node_id: string; job_id: string; kind: string; params: unknown; deps: Array<string>; trainer_uri: string; trainer_sha256: string }>`
          SELECT c.node_id, c.job_id, c.kind, c.params, c.deps, j.trainer_uri, j.trainer_sha256
          FROM computation_node c JOIN jobs j ON j.job_id = c.job_id WHERE c.node_id IN ${sql.in(leases.map((l) => l.node_id))}`
        const byId = new Map(rows.map((r) => [r.node_id, r]))
        return leases.map((l) => {
          const r = byId.get(l.node_id)!
          return { node_id: l.node_id, job_id: l.job_id, kind: r.kind, params: r.params, deps: r.deps, lease_token: l.lease_token, expires_at, trainer: { uri: r.trainer_uri, sha256: r.trainer_sha256 } }
        })
      }).pipe(transact)
    })

    /**
     * The node under a valid lease: it exists for the tenant, is leased, with this token, not expired.
     * The node and its job are locked, so the job's status read here holds until commit.
     */
    const fenced = (tenant: string, nodeId: string, token: string) =>
      Effect.gen(function*() {
        // PostgreSQL text cannot hold NUL: such an id names no node.
        if (nodeId.includes("\u0000")) return yield* new NodeNotFound({ nodeId: nodeId.replaceAll("\u0000", "\\0") })
        const rows = yield* sql<{ node: NodeRow; job_status: string }>`
          SELECT to_jsonb(c) AS node, j.status AS job_status FROM computation_node c JOIN jobs j ON j.job_id = c.job_id
          WHERE c.node_id = ${nodeId} AND j.tenant = ${tenant} FOR UPDATE OF c, j`
        if (rows.length === 0) return yield* new NodeNotFound({ nodeId })
        const { node, job_status } = rows[0]!
        if (node.status !== "leased") return yield* new LeaseConflict({ nodeId, reason: `the node is ${node.status}, not leased` })
        if (!node.lease_token || !Crypto.timingSafeEqual(Crypto.createHash("sha256").update(node.lease_token).digest(), Crypto.createHash("sha256").update(token).digest())) {
          return yield* new LeaseConflict({ nodeId, reason: "the lease token is not this node's current lease (stale or foreign)" })
        }
        if (node.lease_expires_at && new Date(node.lease_expires_at).getTime() <= Date.now()) {
          return yield* new LeaseConflict({ nodeId, reason: "the lease has expired" })
        }
        return { node, jobStatus: job_status }
      })

    const heartbeat = Effect.fn("Workers.heartbeat")(function*(tenant: string, nodeId: string, token: string, metadata: EventMetadata) {
      return yield* Effect.gen(function*() {
        const { node, jobStatus } = yield* fenced(tenant, nodeId, token)
        const at = new Date()
        // A heartbeat extends the lease by the length it was granted with (lease_seconds at lease time):
        // NodeLeased and NodeHeartbeat both set updated_at = at and lease_expires_at = at + that length.
        const granted = (new Date(node.lease_expires_at!).getTime() - new Date(node.updated_at).getTime()) / 1000
        const seconds = Math.max(1, Math.round(Number.isFinite(granted) ? granted : limits.leaseSeconds))
        const expires_at = new Date(at.getTime() + seconds * 1000).toISOString()
        yield* appendToJob(node.job_id, [{ _tag: "NodeHeartbeat", job_id: node.job_id, node_id: nodeId, expires_at, at: at.toISOString() }], metadata)
        // Stop work nobody will use: the job is being cancelled, or already ended (a failed job keeps no results).
        return { expires_at, cancel: jobStatus !== "pending" && jobStatus !== "running" }
      }).pipe(transact)
    })

    /** Dependents of a job whose dependencies have all succeeded, given the nodes just settled. */
    /**
     * Pending dependents of the just-settled nodes whose dependencies are all settled — succeeded,
     * skipped, or a fit that failed for good (§7: a failed fit does not stop the run) — with at least
     * one success among them.
     */
    const newlyReady = (jobId: string, settled: ReadonlyArray<string>, succeeding?: string) =>
      sql<{ node_id: string }>`
        SELECT c.node_id FROM computation_node c
        WHERE c.job_id = ${jobId} AND c.status = 'pending' AND c.deps && ${settled as Array<string>}::text[]
          AND NOT EXISTS (SELECT 1 FROM unnest(c.deps) d(id) JOIN computation_node x ON x.node_id = d.id
                          WHERE NOT (x.status IN ('succeeded', 'skipped') OR (x.status = 'failed' AND x.kind = 'fit')
                                     OR x.node_id = ${succeeding ?? ""}))
          AND EXISTS (SELECT 1 FROM unnest(c.deps) d(id) JOIN computation_node x ON x.node_id = d.id
                      WHERE x.status = 'succeeded' OR x.node_id = ${succeeding ?? ""})
        ORDER BY c.ordinal`.pipe(Effect.map((rows) => rows.map((r) => r.node_id)))

    /** After a fit failed for good: drop its family when no trial of it can succeed; fail the job when no family can. */
    const afterFitFailure = (node: NodeRow, at: string, metadata: EventMetadata) =>
      Effect.gen(function*() {
        const family = String((node.params as { family?: unknown }).family)
        const [count] = yield* sql<{ family_alive: number; alive: number }>`
          SELECT count(*) FILTER (WHERE status <> 'failed' AND params->>'family' = ${family})::int AS family_alive,
                 count(*) FILTER (WHERE status <> 'failed')::int AS alive
          FROM computation_node WHERE job_id = ${node.job_id} AND kind = 'fit'`
        if (count!.alive === 0) {
          yield* appendToJob(node.job_id, [{ _tag: "JobFailed", job_id: node.job_id, reason: "no family had a successful trial: every fit failed", node_ids: yield* waitingNodes(node.job_id), at }], metadata)
          return
        }
        const settled = [node.node_id]
        if (count!.family_alive === 0) {
          const dropped = yield* sql<{ node_id: string }>`
            SELECT node_id FROM computation_node WHERE job_id = ${node.job_id} AND status = 'pending'
              AND kind IN ('select', 'refit') AND params->>'family' = ${family} ORDER BY ordinal`
          const ids = dropped.map((r) => r.node_id)
          if (ids.length > 0) {
            yield* appendToJob(node.job_id, [{ _tag: "NodeSkipped", job_id: node.job_id, node_ids: ids, reason: `family ${family} dropped: no trial succeeded`, at }], metadata)
            settled.push(...ids)
          }
        }
        const ready = yield* newlyReady(node.job_id, settled)
        if (ready.length > 0) yield* appendToJob(node.job_id, [{ _tag: "NodeReady", job_id: node.job_id, node_ids: ready, at }], metadata)
      })

    const complete = Effect.fn("Workers.complete")(function*(tenant: string, nodeId: string, token: string, result: unknown, metadata: EventMetadata) {
      return yield* Effect.gen(function*() {
        const { node, jobStatus } = yield* fenced(tenant, nodeId, token)
        const at = new Date().toISOString()
        const events: Array<JobEvent> = [{ _tag: "NodeSucceeded", job_id: node.job_id, node_id: nodeId, result: result ?? null, at }]
        // Readiness is decided with the job locked (by fenced), counting this node as succeeded, so
        // the success, the dependents made ready and the job's end are one append. A late result for
        // a job that already ended (or is being cancelled) is recorded and moves nothing else.
        let ready: ReadonlyArray<string> = []
        if (jobStatus === "pending" || jobStatus === "running") {
          ready = yield* newlyReady(node.job_id, [nodeId], nodeId)
          if (ready.length > 0) events.push({ _tag: "NodeReady", job_id: node.job_id, node_ids: [...ready], at })
          if (node.kind === "finalize") events.push({ _tag: "JobSucceeded", job_id: node.job_id, result: result ?? null, at })
        }
        yield* appendToJob(node.job_id, events, metadata)
        if (jobStatus === "cancelling") yield* settleCancelling(node.job_id, at, metadata)
        return { status: "succeeded" as const, ready: ready.length }
      }).pipe(transact)
    })

    const fail = Effect.fn("Workers.fail")(function*(tenant: string, nodeId: string, token: string, error: { message: string; retryable: boolean }, metadata: EventMetadata) {
      return yield* Effect.gen(function*() {
        const { node, jobStatus } = yield* fenced(tenant, nodeId, token)
        const now = new Date()
        const at = now.toISOString()
        const cancelling = jobStatus === "cancelling"
        const open = jobStatus === "pending" || jobStatus === "running"
        const retry = error.retryable && node.attempts < limits.maxAttempts && open
        const events: Array<JobEvent> = [{ _tag: "NodeFailed", job_id: node.job_id, node_id: nodeId, error, attempt: node.attempts, final: !retry, at }]
        if (retry) {
          const ready_at = new Date(now.getTime() + backoffSeconds(node.attempts) * 1000).toISOString()
          events.push({ _tag: "NodeRetryScheduled", job_id: node.job_id, node_id: nodeId, ready_at, at })
        } else if (open && node.kind !== "fit") {
          // Only fits may fail without ending the run (§7): any other node that cannot finish fails its job.
          events.push({ _tag: "JobFailed", job_id: node.job_id, reason: `node ${nodeId} failed after ${node.attempts} attempt(s): ${error.message}`, node_ids: yield* waitingNodes(node.job_id), at })
        }
        yield* appendToJob(node.job_id, events, metadata)
        if (cancelling) yield* settleCancelling(node.job_id, at, metadata)
        else if (open && !retry && node.kind === "fit") yield* afterFitFailure(node, at, metadata)
        return { status: retry ? "retry_scheduled" as const : "failed" as const }
      }).pipe(transact)
    })

    return { lease, heartbeat, complete, fail, cancel } as const
  }),
  dependencies: [EventLog.Default, JobSignals.Default]
}) {}
