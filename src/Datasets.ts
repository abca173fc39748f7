// The dataset registry: profile an upload, store its bytes content-addressed, record it as a
// DatasetRegistered event with its projection in one transaction.
import { SqlClient, SqlError } from "@effect/sql"
import { Data, Effect, Option, Schema } from "effect"
import * as Crypto from "node:crypto"
import { AppConfig } from "./Config.ts"
import { Profiler } from "./Datasets/Profile.ts"
import type { Spooled } from "./Datasets/Upload.ts"
import { Dataset, type DatasetFormat, DatasetId, datasetObjectKey } from "./Domain/Dataset.ts"
import type { EventMetadata } from "./Domain/Events.ts"
import { DEFAULT_LIMIT, encodeCursor } from "./Domain/Page.ts"
import { EventLog } from "./EventLog.ts"
import { ObjectStore } from "./ObjectStore.ts"
import { type DatasetRow, projectDataset } from "./Projection.ts"

export class DatasetNotFound extends Data.TaggedError("DatasetNotFound")<{ readonly datasetId: string }> {}

const contentTypes: Record<DatasetFormat, string> = { csv: "text/csv", parquet: "application/vnd.apache.parquet" }

interface Row extends Omit<DatasetRow, "size_bytes" | "row_count" | "position" | "created_at"> {
  readonly size_bytes: string
  readonly row_count: string
  readonly position: string
  readonly created_at: Date
}

const decodeDataset = Schema.decodeUnknownSync(Dataset)

const toDataset = (r: Row) =>
  decodeDataset({
    dataset_id: r.dataset_id,
    name: r.name,
    format: r.format,
    size_bytes: Number(r.size_bytes),
    sha256: r.sha256,
    uri: r.uri,
    created_at: r.created_at.toISOString(),
    profile: r.profile
  })

const isUniqueViolation = (e: unknown) =>
  e instanceof SqlError.SqlError && (e.cause as { code?: string } | undefined)?.code === "23505"

export class Datasets extends Effect.Service<Datasets>()("Datasets", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const store = yield* ObjectStore
    const log = yield* EventLog
    const profiler = yield* Profiler
    const { limits } = yield* AppConfig

    const columns = sql`dataset_id, tenant, name, format, size_bytes, sha256, uri, row_count, profile, created_at, position`

    const findByContent = (tenant: string, sha256: string, name: string) =>
      sql<Row>`SELECT ${columns} FROM datasets WHERE tenant = ${tenant} AND sha256 = ${sha256} AND name = ${name}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toDataset))
      )

    const get = Effect.fn("Datasets.get")(function*(tenant: string, datasetId: string) {
      // PostgreSQL text cannot hold NUL: such an id names nothing.
      if (datasetId.includes("\u0000")) return yield* new DatasetNotFound({ datasetId: datasetId.replaceAll("\u0000", "\\0") })
      const rows = yield* sql<Row>`SELECT ${columns} FROM datasets WHERE tenant = ${tenant} AND dataset_id = ${datasetId}`
      if (rows.length === 0) return yield* new DatasetNotFound({ datasetId })
      return toDataset(rows[0]!)
    })

    const list = Effect.fn("Datasets.list")(function*(tenant: string, page: { readonly limit?: number | undefined; readonly cursor?: number | undefined }) {
      const limit = page.limit ?? DEFAULT_LIMIT
      const rows = yield* sql<Row>`
        SELECT ${columns} FROM datasets
        WHERE tenant = ${tenant} ${page.cursor !== undefined ? sql`AND position < ${page.cursor}` : sql``}
        ORDER BY position DESC LIMIT ${limit + 1}`
      const items = rows.slice(0, limit).map(toDataset)
      const next_cursor = rows.length > limit ? encodeCursor(Number(rows[limit - 1]!.position)) : null
      return { items, next_cursor }
    })

    /**
     * Registers a spooled upload. Input is checked (profiled) before anything is written; the
     * same bytes under the same name for the same tenant give back the dataset already registered.
     */
    const register = Effect.fn("Datasets.register")(function*(input: {
      readonly tenant: string
      readonly name: string
      readonly format: DatasetFormat
      readonly file: Spooled
      readonly delimiter?: string | undefined
      readonly metadata: EventMetadata
    }) {
      const { tenant, name, format, file } = input
      const existing = yield* findByContent(tenant, file.sha256, name)
      if (Option.isSome(existing)) return { dataset: existing.value, created: false }

      const profile = yield* profiler.profile(file.path, format, limits, input.delimiter)
      const key = datasetObjectKey(file.sha256, format)
      const outcome = yield* store.putFile(key, file.path, contentTypes[format])
      const dataset = new Dataset({
        dataset_id: DatasetId.make(`ds_${Crypto.randomBytes(16).toString("hex")}`),
        name,
        format,
        size_bytes: file.size,
        sha256: file.sha256,
        uri: store.uri(key),
        created_at: new Date().toISOString(),
        profile
      })
      const event = { _tag: "DatasetRegistered", tenant, dataset } as const
      const commit = Effect.gen(function*() {
        const [position] = yield* log.append([{ streamId: dataset.dataset_id, streamVersion: 1, event, metadata: input.metadata }])
        const row = projectDataset(undefined, { event, position: position! })
        yield* sql`INSERT INTO datasets ${sql.insert({ ...row, profile: JSON.stringify(row.profile) } as any)}`
      }).pipe(sql.withTransaction)

      return yield* commit.pipe(
        Effect.as({ dataset, created: true }),
        Effect.catchAll((error) =>
          Effect.gen(function*() {
            // A concurrent registration of the same bytes and name won: answer with it.
            if (isUniqueViolation(error)) {
              const winner = yield* findByContent(tenant, file.sha256, name)
              if (Option.isSome(winner)) return { dataset: winner.value, created: false }
            }
            // Leave nothing behind: remove the object we wrote unless another dataset uses it.
            if (outcome === "created") {
              const users = yield* sql`SELECT 1 FROM datasets WHERE sha256 = ${file.sha256} LIMIT 1`.pipe(
                Effect.orElseSucceed(() => [1])
              )
              if (users.length === 0) yield* store.delete(key).pipe(Effect.ignore)
            }
            return yield* Effect.fail(error)
          })
        )
      )
    })

    return { register, get, list } as const
  }),
  dependencies: [EventLog.Default, Profiler.Default]
}) {}
