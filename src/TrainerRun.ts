// The router pipeline (§5): validate → build → compile → upload → submit, each stage a typed
// step with its own errors; HTTP statuses are chosen at the edge only.
import { SqlClient } from "@effect/sql"
import { Duration, Effect, Either, Metric } from "effect"
import * as Crypto from "node:crypto"
import { AppConfig } from "./Config.ts"
import type { EventMetadata } from "./Domain/Events.ts"
import { IdempotencyConflict, Scheduler } from "./Scheduler.ts"
import { Build } from "./TrainerRun/Build.ts"
import { compile } from "./TrainerRun/Compile.ts"
import { canonicalJson, redactRequest, Upload } from "./TrainerRun/Upload.ts"
import { validate } from "./TrainerRun/Validate.ts"
import { stageDuration } from "./Metrics.ts"

const timed = (stage: string) =>
  Metric.trackDuration(Metric.tagged(stageDuration, "stage", stage).pipe(Metric.mapInput(Duration.toSeconds)))

export const requestHash = (body: unknown) => Crypto.createHash("sha256").update(canonicalJson(body)).digest("hex")

export class TrainerRun extends Effect.Service<TrainerRun>()("TrainerRun", {
  effect: Effect.gen(function*() {
    const { limits, teacherUrlAllowlist } = yield* AppConfig
    const builder = yield* Build
    const uploader = yield* Upload
    const scheduler = yield* Scheduler
    const sql = yield* SqlClient.SqlClient

    /** Stages 1–3: no side effect. */
    const plan = Effect.fn("TrainerRun.plan")(function*(tenant: string, body: unknown) {
      const request = yield* Effect.suspend(() => validate(body, limits, teacherUrlAllowlist)).pipe(timed("validate"))
      const resolved = yield* builder.build(tenant, request).pipe(timed("build"))
      const graph = yield* Effect.suspend(() => Either.match(compile(resolved, limits.maxGraphNodes), { onLeft: Effect.fail, onRight: Effect.succeed })).pipe(timed("compile"))
      return { request, resolved, graph }
    })

    /** A retried submission (same key, same body) answers before any work; another body is a conflict. */
    const replay = (tenant: string, key: string, hash: string) =>
      sql<{ request_hash: string; job_id: string }>`SELECT request_hash, job_id FROM idempotency_keys WHERE tenant = ${tenant} AND key = ${key}`.pipe(
        Effect.flatMap((rows) =>
          rows.length === 0
            ? Effect.succeed(undefined)
            : rows[0]!.request_hash === hash
            ? Effect.succeed(rows[0]!.job_id)
            : Effect.fail(new IdempotencyConflict({ key, job_id: rows[0]!.job_id }))
        )
      )

    const run = Effect.fn("TrainerRun.run")(function*(tenant: string, body: unknown, idempotencyKey: string | undefined, metadata: EventMetadata) {
      const hash = requestHash(body)
      if (idempotencyKey !== undefined) {
        const existing = yield* replay(tenant, idempotencyKey, hash)
        if (existing !== undefined) {
          const [row] = yield* sql<{ dataset_id: string }>`SELECT dataset_id FROM jobs WHERE job_id = ${existing}`
          return { job_id: existing, dataset_id: row!.dataset_id, created: false }
        }
      }
      const { request, resolved, graph } = yield* plan(tenant, body)
      const uploaded = yield* uploader.upload(request, resolved, graph).pipe(timed("upload"))
      const inUse = sql`SELECT 1 FROM jobs WHERE trainer_sha256 = ${uploaded.ref.sha256} LIMIT 1`.pipe(Effect.map((rows) => rows.length > 0))
      const { job_id, created } = yield* scheduler.submit({
        tenant,
        datasetId: resolved.dataset.dataset_id,
        trainer: uploaded.ref,
        request: redactRequest(request),
        graph,
        idempotency: idempotencyKey !== undefined ? { key: idempotencyKey, request_hash: hash } : null,
        metadata
      }).pipe(
        timed("submit"),
        // No job came of it: leave no trainer document behind (a retry uploads it again).
        Effect.tapError(() => uploader.discard(uploaded, inUse))
      )
      // A racing retry found its key's job already made: the document it wrote is nobody's.
      if (!created) yield* uploader.discard(uploaded, inUse)
      return { job_id, dataset_id: resolved.dataset.dataset_id, created }
    })

    return { plan, run } as const
  }),
  dependencies: [Build.Default, Upload.Default, Scheduler.Default]
}) {}
