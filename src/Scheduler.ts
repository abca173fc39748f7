// The scheduler actor (§7): one fiber per process owns the writes of job streams. It takes what
// waits in a bounded inbox as a batch and, in ONE transaction, appends each JobSubmitted event and
// projects jobs + computation_node with bulk statements; only after commit does it reply.
import { SqlClient } from "@effect/sql"
import { Data, Deferred, Effect, Metric, Queue } from "effect"
import * as Crypto from "node:crypto"
import { AppConfig } from "./Config.ts"
import type { EventMetadata, JobSubmitted } from "./Domain/Events.ts"
import { EventLog } from "./EventLog.ts"
import { schedulerBatchSize, schedulerInboxDepth, submissions } from "./Metrics.ts"
import { projectIdempotency, projectJobSubmitted } from "./Projection.ts"
import type { Graph } from "./TrainerRun/Compile.ts"
import type { TrainerRef } from "./TrainerRun/Upload.ts"

export class InboxFull extends Data.TaggedError("InboxFull")<{ readonly capacity: number }> {}
export class SchedulerUnavailable extends Data.TaggedError("SchedulerUnavailable")<{ readonly reason: string }> {}
export class IdempotencyConflict extends Data.TaggedError("IdempotencyConflict")<{ readonly key: string; readonly job_id: string }> {}

export type SubmitError = InboxFull | SchedulerUnavailable | IdempotencyConflict

export interface Submission {
  readonly tenant: string
  readonly datasetId: string
  readonly trainer: TrainerRef
  /** The request with secrets redacted. */
  readonly request: unknown
  readonly graph: Graph
  readonly idempotency: { readonly key: string; readonly request_hash: string } | null
  readonly metadata: EventMetadata
}

export interface RequestToComputeGraph extends Submission {
  readonly reply: Deferred.Deferred<{ readonly job_id: string; readonly created: boolean }, IdempotencyConflict | SchedulerUnavailable>
}

type Outcome = { readonly job_id: string; readonly created: boolean } | IdempotencyConflict

const LINGER = "2 millis"
/** Node rows per transaction: big graphs commit alone rather than as one enormous statement. */
const MAX_BATCH_NODES = 12_000

/** Splits a batch into consecutive groups of at most MAX_BATCH_NODES nodes (at least one request each). */
export const byNodes = <A extends { readonly graph: Graph }>(batch: ReadonlyArray<A>): Array<Array<A>> => {
  const groups: Array<Array<A>> = []
  let size = 0
  for (const r of batch) {
    const n = r.graph.nodes.length
    if (groups.length === 0 || size + n > MAX_BATCH_NODES) {
      groups.push([])
      size = 0
    }
    groups[groups.length - 1]!.push(r)
    size += n
  }
  return groups
}

export class Scheduler extends Effect.Service<Scheduler>()("Scheduler", {
  scoped: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const log = yield* EventLog
    const { limits } = yield* AppConfig
    const capacity = limits.schedulerInboxSize
    const inbox = yield* Queue.dropping<RequestToComputeGraph>(capacity)

    /** One transaction for the batch: idempotency lookups, events, projections. */
    const commit = (batch: ReadonlyArray<RequestToComputeGraph>) =>
      Effect.gen(function*() {
        const keyed = batch.filter((r) => r.idempotency !== null)
        const known = new Map<string, { request_hash: string; job_id: string }>()
        if (keyed.length > 0) {
          const rows = yield* sql<{ tenant: string; key: string; request_hash: string; job_id: string }>`
            SELECT i.tenant, i.key, i.request_hash, i.job_id FROM idempotency_keys i
            JOIN jsonb_to_recordset(${JSON.stringify(keyed.map((r) => ({ tenant: r.tenant, key: r.idempotency!.key })))}::jsonb)
              AS k(tenant text, key text) ON i.tenant = k.tenant AND i.key = k.key`
          for (const r of rows) known.set(`${r.tenant}\u0000${r.key}`, r)
        }
        const outcomes = new Map<RequestToComputeGraph, Outcome>()
        const events: Array<JobSubmitted> = []
        const owners: Array<RequestToComputeGraph> = []
        const now = new Date().toISOString()
        for (const r of batch) {
          const id = r.idempotency ? `${r.tenant}\u0000${r.idempotency.key}` : undefined
          const seen = id !== undefined ? known.get(id) : undefined
          if (seen) {
            outcomes.set(r, seen.request_hash === r.idempotency!.request_hash
              ? { job_id: seen.job_id, created: false }
              : new IdempotencyConflict({ key: r.idempotency!.key, job_id: seen.job_id }))
            continue
          }
          const job_id = `job_${Crypto.randomBytes(16).toString("hex")}`
          if (id !== undefined) known.set(id, { request_hash: r.idempotency!.request_hash, job_id })
          events.push({
            _tag: "JobSubmitted",
            tenant: r.tenant,
            job_id,
            dataset_id: r.datasetId,
            submitted_at: now,
            trainer: r.trainer,
            request: r.request,
            idempotency: r.idempotency,
            graph: r.graph as JobSubmitted["graph"]
          })
          owners.push(r)
          outcomes.set(r, { job_id, created: true })
        }
        if (events.length > 0) {
          const positions = yield* log.append(events.map((event, i) => ({
            streamId: event.job_id,
            streamVersion: 1,
            event,
            metadata: { ...owners[i]!.metadata, ...(event.idempotency ? { idempotency_key: event.idempotency.key } : {}) }
          })))
          const projected = events.map((event, i) => projectJobSubmitted(undefined, { event, position: positions[i]! }))
          const jobs = projected.map((p) => p.job)
          const nodes = projected.flatMap((p) => p.nodes)
          yield* sql`INSERT INTO jobs SELECT * FROM jsonb_populate_recordset(NULL::jobs, ${JSON.stringify(jobs)}::jsonb)`
          yield* sql`INSERT INTO computation_node SELECT * FROM jsonb_populate_recordset(NULL::computation_node, ${JSON.stringify(nodes)}::jsonb)`
          const keys = events.flatMap((e) => projectIdempotency(e) ?? [])
          if (keys.length > 0) {
            yield* sql`INSERT INTO idempotency_keys SELECT * FROM jsonb_populate_recordset(NULL::idempotency_keys, ${JSON.stringify(keys)}::jsonb)`
          }
        }
        return outcomes
      }).pipe(sql.withTransaction)

    const reply = (outcomes: ReadonlyMap<RequestToComputeGraph, Outcome>) =>
      Effect.forEach(outcomes, ([r, outcome]) =>
        outcome instanceof IdempotencyConflict ? Deferred.fail(r.reply, outcome) : Deferred.succeed(r.reply, outcome), { discard: true })

    /** A failed batch is retried request by request, so one bad request cannot fail its neighbours. */
    const handle = (batch: ReadonlyArray<RequestToComputeGraph>): Effect.Effect<void> =>
      commit(batch).pipe(
        Effect.flatMap(reply),
        Effect.catchAllCause((cause) =>
          batch.length > 1
            ? Effect.forEach(batch, (r) => handle([r]), { discard: true })
            : Effect.logWarning("submission failed", cause).pipe(
              Effect.zipRight(Deferred.fail(batch[0]!.reply, new SchedulerUnavailable({ reason: "the database refused or could not commit the job" })))
            )
        ),
        Effect.uninterruptible
      )

    const loop = Effect.gen(function*() {
      const first = yield* Queue.takeBetween(inbox, 1, limits.schedulerBatchSize)
      yield* Effect.sleep(LINGER)
      const rest = first.length < limits.schedulerBatchSize ? yield* Queue.takeUpTo(inbox, limits.schedulerBatchSize - first.length) : []
      const batch = [...first, ...rest]
      for (const group of byNodes(batch)) {
        yield* Metric.update(schedulerBatchSize, group.length)
        yield* handle(group)
      }
    }).pipe(Effect.forever)

    yield* Effect.forkScoped(loop)
    // On shutdown, every request still waiting gets a typed answer instead of silence.
    yield* Effect.addFinalizer(() =>
      Queue.takeAll(inbox).pipe(
        Effect.flatMap((left) =>
          Effect.forEach(left, (r) => Deferred.fail(r.reply, new SchedulerUnavailable({ reason: "the service is shutting down" })), { discard: true })
        )
      )
    )

    const submit = Effect.fn("Scheduler.submit")(function*(submission: Submission) {
      const deferred = yield* Deferred.make<{ readonly job_id: string; readonly created: boolean }, IdempotencyConflict | SchedulerUnavailable>()
      const accepted = yield* Queue.offer(inbox, { ...submission, reply: deferred })
      yield* Metric.set(schedulerInboxDepth, yield* Queue.size(inbox))
      if (!accepted) {
        yield* Metric.increment(Metric.tagged(submissions, "outcome", "inbox_full"))
        return yield* new InboxFull({ capacity })
      }
      const result = yield* Deferred.await(deferred).pipe(
        Effect.tapError((e) => Metric.increment(Metric.tagged(submissions, "outcome", e._tag)))
      )
      yield* Metric.increment(Metric.tagged(submissions, "outcome", result.created ? "created" : "idempotent_replay"))
      return result
    })

    return { submit, depth: Queue.size(inbox) } as const
  }),
  dependencies: [EventLog.Default]
}) {}
