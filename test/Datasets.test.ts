import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { DuckDBInstance } from "@duckdb/node-api"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { AppConfig } from "../src/Config.ts"
import { ObjectStore } from "../src/ObjectStore.ts"
import { deployments, testServer } from "./support/Deployments.ts"
import { HttpClientRequest } from "@effect/platform"
import { expectProblem, fixture, get, readBytes, send, uploadMultipart, uploadRaw, vegaFile } from "./support/Http.ts"

const ACME = "tok-acme"
const BETA = "tok-beta"
const settings = {
  AUTH_TOKENS: `acme=${ACME},beta=${BETA}`,
  MAX_UPLOAD_BYTES: String(512 * 1024),
  MAX_DATASET_ROWS: "5000",
  MAX_DATASET_COLUMNS: "40",
  MAX_JSON_BODY_BYTES: "4096"
}

const seattle = readBytes(vegaFile("seattle-weather.csv"))

/** Penguins as Parquet, written by DuckDB from the vega-datasets JSON. */
const penguinsParquet = Effect.promise(async () => {
  const out = NodePath.join(Os.tmpdir(), `penguins-${process.pid}.parquet`)
  const db = await DuckDBInstance.create(":memory:")
  const conn = await db.connect()
  await conn.run(`COPY (SELECT * FROM read_json('${vegaFile("penguins.json")}')) TO '${out}' (FORMAT parquet)`)
  conn.closeSync()
  db.closeSync()
  const bytes = readBytes(out)
  Fs.rmSync(out)
  return bytes
})

const sendRaw = (body: string, contentType: string, token: string) =>
  send(HttpClientRequest.post("/v1/datasets").pipe(HttpClientRequest.bodyText(body, contentType)), token)
const sendJson = (body: unknown, token: string) => sendRaw(JSON.stringify(body), "application/json", token)

const column = (dataset: any, name: string) => dataset.profile.columns.find((c: any) => c.name === name)

/** What a failed registration must not leave: events, rows, objects. */
const footprint = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const store = yield* ObjectStore
  const [{ events }] = yield* sql<{ events: string }>`SELECT count(*)::text AS events FROM events`
  const [{ rows }] = yield* sql<{ rows: string }>`SELECT count(*)::text AS rows FROM datasets`
  const objects = yield* store.list("datasets/")
  return { events: Number(events), rows: Number(rows), objects }
}).pipe(Effect.orDie)

for (const deployment of deployments) {
  layer(testServer(deployment, settings), { excludeTestServices: true, timeout: "120 seconds" })(
    `dataset registry on ${deployment.name}`,
    (it) => {
      it.effect("registers seattle-weather.csv with the profile a user expects", () =>
        Effect.gen(function*() {
          const reply = yield* uploadRaw(seattle, "text/csv", "seattle-weather", ACME)
          expect(reply.status).toBe(201)
          const ds = reply.body
          expect(ds.dataset_id).toMatch(/^ds_[0-9a-f]{32}$/)
          expect(ds.profile.rows).toBe(1461)
          expect(ds.format).toBe("csv")
          expect(ds.size_bytes).toBe(seattle.byteLength)
          expect(ds.uri).toContain(`datasets/sha256/${ds.sha256}.csv`)
          expect(column(ds, "date")).toMatchObject({ dtype: "date", null_count: 0, distinct_count: 1461, min: "2012-01-01", max: "2015-12-31" })
          for (const name of ["precipitation", "temp_max", "temp_min", "wind"]) expect(column(ds, name).dtype).toBe("float")
          expect(column(ds, "temp_min")).toMatchObject({ min: -7.1, max: 18.3 })
          expect(column(ds, "weather")).toMatchObject({ dtype: "string", distinct_count: 5, distinct_exact: true })
          expect(column(ds, "weather").values.map((v: any) => v.value).sort()).toEqual(["drizzle", "fog", "rain", "snow", "sun"])

          const again = yield* get(`/v1/datasets/${ds.dataset_id}`, ACME)
          expect(again.status).toBe(200)
          expect(again.body).toEqual(ds)
        }))

      it.effect("re-registering the same bytes stores them once", () =>
        Effect.gen(function*() {
          const first = yield* uploadRaw(seattle, "text/csv", "seattle-twice", ACME)
          const before = yield* footprint
          const second = yield* uploadRaw(seattle, "text/csv", "seattle-twice", ACME)
          expect(first.status).toBe(201)
          expect(second.status).toBe(200)
          expect(second.body.dataset_id).toBe(first.body.dataset_id)
          expect(yield* footprint).toEqual(before)
          // Another name for the same bytes is another dataset over the same object.
          const renamed = yield* uploadRaw(seattle, "text/csv", "seattle-renamed", ACME)
          expect(renamed.status).toBe(201)
          expect(renamed.body.uri).toBe(first.body.uri)
          const after = yield* footprint
          expect(after.objects).toEqual(before.objects)
          expect(after.objects.filter((k) => k.includes(first.body.sha256))).toHaveLength(1)
        }))

      it.effect("keeps numbers exact: 64-bit integers, no infinities, NaN and Infinity in Parquet as text", () =>
        Effect.gen(function*() {
          const reply = yield* uploadRaw("big,huge,x\n9007199254740993,1e999,1.5\n9223372036854775807,1,2\n", "text/csv", "exact", ACME)
          expect(reply.status).toBe(201)
          expect(column(reply.body, "big")).toMatchObject({ dtype: "int", min: "9007199254740993", max: "9223372036854775807" })
          expect(column(reply.body, "huge").dtype).toBe("string")
          const listed = yield* get("/v1/datasets?limit=500", ACME)
          expect(listed.status).toBe(200)
          const db = yield* Effect.promise(() => DuckDBInstance.create(":memory:"))
          const conn = yield* Effect.promise(() => db.connect())
          const out = NodePath.join(Os.tmpdir(), `nan-${process.pid}.parquet`)
          yield* Effect.promise(() => conn.run(`COPY (SELECT * FROM (VALUES (1.5::DOUBLE), ('nan'::DOUBLE), ('inf'::DOUBLE), ('-inf'::DOUBLE)) t(v)) TO '${out}' (FORMAT parquet)`))
          const nan = yield* uploadRaw(readBytes(out), "application/vnd.apache.parquet", "nan", ACME)
          Fs.rmSync(out)
          expect(nan.status, JSON.stringify(nan.body)).toBe(201)
          expect(column(nan.body, "v")).toMatchObject({ dtype: "float", min: 1.5, max: 1.5 })
          expect(column(nan.body, "v").values.map((v: any) => v.value).sort()).toEqual(["-Infinity", "Infinity", "NaN", 1.5].sort())
          expect((yield* get(`/v1/datasets/${nan.body.dataset_id}`, ACME)).status).toBe(200)
        }))

      it.effect("reads TSV as declared, and timestamps with minutes and an offset", () =>
        Effect.gen(function*() {
          const reply = yield* uploadRaw("last, first\tage\tseen\nDoe, Jane\t41\t2024-01-01T10:00Z\n", "text/tab-separated-values", "tsv", ACME)
          expect(reply.status, JSON.stringify(reply.body)).toBe(201)
          expect(reply.body.profile.columns.map((c: any) => c.name)).toEqual(["last, first", "age", "seen"])
          expect(column(reply.body, "seen")).toMatchObject({ dtype: "timestamp", min: "2024-01-01T10:00:00.000Z" })
        }))

      it.effect("keeps information when inferring CSV types", () =>
        Effect.gen(function*() {
          const reply = yield* uploadRaw(readBytes(fixture("inference.csv")), "text/csv", "inference", ACME)
          expect(reply.status).toBe(201)
          const ds = reply.body
          expect(ds.profile.rows).toBe(4)
          expect(column(ds, "zip")).toMatchObject({ dtype: "string", null_count: 0, distinct_count: 4 })
          expect(column(ds, "zip").values.map((v: any) => v.value)).toContain("00501")
          expect(column(ds, "amount")).toMatchObject({ dtype: "float", null_count: 1, min: 1.5, max: 4.25 })
          expect(column(ds, "count")).toMatchObject({ dtype: "int", null_count: 1, min: -4, max: 7 })
          expect(column(ds, "active")).toMatchObject({ dtype: "bool", null_count: 0, distinct_count: 2 })
          // With and without offsets, and a bare date: one timestamp column, in UTC.
          expect(column(ds, "when")).toMatchObject({
            dtype: "timestamp",
            null_count: 0,
            distinct_count: 3,
            min: "2024-03-10T08:00:00.000Z",
            max: "2024-03-11T00:00:00.000Z"
          })
          expect(column(ds, "mixed")).toMatchObject({ dtype: "string", distinct_count: 4 })
          expect(column(ds, "note")).toMatchObject({ null_count: 4, distinct_count: 0 })
          expect(column(ds, "day")).toMatchObject({ dtype: "date", null_count: 1, min: "2024-01-01", max: "2024-01-03" })
          // An integer beyond 64 bits would lose digits as a float: it stays a string.
          expect(column(ds, "big_id")).toMatchObject({ dtype: "string", null_count: 1 })
        }))

      it.effect("registers Parquet (multipart upload) with its own types", () =>
        Effect.gen(function*() {
          const bytes = yield* penguinsParquet
          const form = new FormData()
          form.append("name", "penguins")
          form.append("file", new Blob([bytes], { type: "application/vnd.apache.parquet" }), "penguins.parquet")
          const reply = yield* uploadMultipart(form, ACME)
          expect(reply.status).toBe(201)
          expect(reply.body.format).toBe("parquet")
          expect(reply.body.profile.rows).toBe(344)
          expect(column(reply.body, "Species")).toMatchObject({ dtype: "string", distinct_count: 3 })
          expect(column(reply.body, "Beak Length (mm)").dtype).toBe("float")
          expect(column(reply.body, "Sex").null_count).toBeGreaterThan(0)
        }))

      it.effect("takes a CSV file as multipart, naming it after the file when no name is given", () =>
        Effect.gen(function*() {
          const form = new FormData()
          form.append("file", new Blob([readBytes(vegaFile("stocks.csv"))], { type: "text/csv" }), "stocks.csv")
          const reply = yield* uploadMultipart(form, ACME)
          expect(reply.status).toBe(201)
          expect(reply.body.name).toBe("stocks.csv")
          expect(column(reply.body, "symbol")).toMatchObject({ dtype: "string", distinct_count: 5 })
          expect(column(reply.body, "price").dtype).toBe("float")
        }))

      it.effect("registers an object already in the store, from JSON", () =>
        Effect.gen(function*() {
          const store = yield* ObjectStore
          yield* store.putBytes("staging/acme/incoming/weather.csv", seattle, "text/csv").pipe(Effect.orDie)
          const reply = yield* sendJson({ name: "from-bucket", object_key: "incoming/weather.csv" }, ACME)
          expect(reply.status, JSON.stringify(reply.body)).toBe(201)
          expect(reply.body.profile.rows).toBe(1461)
          expect(reply.body.uri).toContain(`datasets/sha256/${reply.body.sha256}.csv`)
          // Another tenant cannot reach acme's staged object, nor the service's own objects.
          expectProblem(yield* sendJson({ name: "stolen", object_key: "incoming/weather.csv" }, BETA), 422, "/object_key")
          expectProblem(yield* sendJson({ name: "stolen", object_key: `datasets/sha256/${reply.body.sha256}.csv` }, BETA), 422, "/object_key")
        }))

      it.effect("refuses bad JSON registrations field by field", () =>
        Effect.gen(function*() {
          const before = yield* footprint
          const typo = yield* sendJson({ name: "x", objectkey: "incoming/weather.csv" }, ACME)
          expectProblem(typo, 422, "/objectkey")
          expect(typo.body.errors.find((e: any) => e.path === "/objectkey").message).toContain(`did you mean "object_key"`)
          expect(typo.body.errors.map((e: any) => e.path)).toContain("/object_key")
          const wrongTypes = yield* sendJson({ name: 3, object_key: "a.csv", format: "xlsx" }, ACME)
          expectProblem(wrongTypes, 422)
          expect(wrongTypes.body.errors.map((e: any) => e.path).sort()).toEqual(["/format", "/name"])
          expect(wrongTypes.body.errors.find((e: any) => e.path === "/format").message).toBe(`Expected "csv" | "parquet", actual "xlsx"`)
          expectProblem(yield* sendJson({ name: "x", object_key: "no/such/object.csv" }, ACME), 422, "/object_key")
          expectProblem(yield* sendJson({ name: "x", object_key: "../../etc/passwd" }, ACME), 422, "/object_key")
          for (const key of ["incoming", "incoming/", ".", "a//b"]) expectProblem(yield* sendJson({ name: "x", object_key: key }, ACME), 422, "/object_key")
          expectProblem(yield* sendJson([1, 2], ACME), 422)
          expectProblem(yield* sendRaw(`{"name": "x",`, "application/json", ACME), 400, "not valid JSON")
          expectProblem(yield* sendRaw("", "application/json", ACME), 400, "empty")
          expectProblem(yield* sendJson({ name: "x".repeat(5000), object_key: "a.csv" }, ACME), 413, "MAX_JSON_BODY_BYTES")
          expect(yield* footprint).toEqual(before)
        }))

      it.effect("refuses bad uploads with a problem naming the reason, leaving nothing behind", () =>
        Effect.gen(function*() {
          const before = yield* footprint
          expectProblem(yield* uploadRaw(seattle, "text/csv", undefined, ACME), 422, "/query/name")
          expectProblem(yield* uploadRaw(seattle, "text/csv", "", ACME), 422, "/query/name")
          expectProblem(yield* uploadRaw("<a/>", "application/xml", "x", ACME), 415, "content-type")
          expectProblem(yield* uploadRaw(seattle, "application/vnd.apache.parquet", "x", ACME), 422, "Parquet")
          expectProblem(yield* uploadRaw(new Uint8Array(0), "text/csv", "x", ACME), 422, "empty")
          expectProblem(yield* uploadRaw(new Uint8Array([0, 1, 2, 3, 0, 5]), "text/csv", "x", ACME), 422, "binary")
          expectProblem(yield* uploadRaw("a,b\n1,2\n3,4,5,6\n", "text/csv", "ragged", ACME), 422, "CSV")
          expectProblem(yield* uploadRaw("a,a\n1,2\n", "text/csv", "dupes", ACME), 422, "repeats column")
          expectProblem(yield* uploadRaw("a,b\n", "text/csv", "header-only", ACME), 422, "no data rows")
          const big = "x,y\n" + "123456789,987654321\n".repeat(30_000)
          expectProblem(yield* uploadRaw(big, "text/csv", "big", ACME), 413, "MAX_UPLOAD_BYTES")
          const manyRows = "x\n" + "1\n".repeat(6000)
          expectProblem(yield* uploadRaw(manyRows, "text/csv", "rows", ACME), 422, "MAX_DATASET_ROWS")
          const wide = Array.from({ length: 41 }, (_, i) => `c${i}`).join(",") + "\n" + Array(41).fill("1").join(",") + "\n"
          expectProblem(yield* uploadRaw(wide, "text/csv", "wide", ACME), 422, "MAX_DATASET_COLUMNS")
          expectProblem(yield* send(HttpClientRequest.post("/v1/datasets").pipe(HttpClientRequest.bodyText("x", "multipart/form-data")), ACME), 400, "boundary")
          const textFile = new FormData()
          textFile.append("file", "a,b\n1,2\n")
          const asText = yield* uploadMultipart(textFile, ACME)
          expectProblem(asText, 422, "/file")
          expect(asText.body.errors).toHaveLength(1)
          const noFile = new FormData()
          noFile.append("name", "nothing")
          expectProblem(yield* uploadMultipart(noFile, ACME), 422, "/file")
          expect(yield* footprint).toEqual(before)
        }))

      it.effect("keeps tenants apart", () =>
        Effect.gen(function*() {
          const mine = yield* uploadRaw("k,v\n1,2\n", "text/csv", "acme-only", ACME)
          expect(mine.status).toBe(201)
          expectProblem(yield* get(`/v1/datasets/${mine.body.dataset_id}`, BETA), 404)
          const theirs = yield* get("/v1/datasets?limit=500", BETA)
          expect(theirs.body.items.map((d: any) => d.dataset_id)).not.toContain(mine.body.dataset_id)
          expectProblem(yield* get("/v1/datasets"), 401)
          expectProblem(yield* get("/v1/datasets", "not-a-token"), 401)
        }))

      it.effect("lists newest first, page by page", () =>
        Effect.gen(function*() {
          for (const i of [1, 2, 3]) yield* uploadRaw(`n\n${i}\n`, "text/csv", `page-${i}`, BETA)
          const first = yield* get("/v1/datasets?limit=2", BETA)
          expect(first.status).toBe(200)
          expect(first.body.items.map((d: any) => d.name)).toEqual(["page-3", "page-2"])
          expect(first.body.next_cursor).toEqual(expect.any(String))
          const second = yield* get(`/v1/datasets?limit=2&cursor=${first.body.next_cursor}`, BETA)
          expect(second.body.items.map((d: any) => d.name)).toEqual(["page-1"])
          expect(second.body.next_cursor).toBeNull()
          expectProblem(yield* get("/v1/datasets?limit=0", BETA), 400, "/query/limit")
          expectProblem(yield* get("/v1/datasets?cursor=%%%", BETA), 400, "/query/cursor")
        }))

      it.effect("records each registration as an event the database will not let anyone change", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const reply = yield* uploadRaw("a\n1\n", "text/csv", "audited", ACME)
          const events = yield* sql<any>`SELECT * FROM events WHERE stream_id = ${reply.body.dataset_id}`
          expect(events).toHaveLength(1)
          expect(events[0]).toMatchObject({ type: "DatasetRegistered", stream_version: 1, schema_version: 1 })
          expect(events[0].data.dataset.dataset_id).toBe(reply.body.dataset_id)
          expect(events[0].metadata.tenant).toBe("acme")
          const refused = (effect: Effect.Effect<unknown, unknown>) => Effect.flip(effect).pipe(Effect.map((e) => String(e)))
          expect(yield* refused(sql`UPDATE events SET type = 'Tampered'`)).toMatch(/SqlError/)
          expect(yield* refused(sql`DELETE FROM events`)).toMatch(/SqlError/)
          expect(yield* refused(sql`TRUNCATE events`)).toMatch(/SqlError/)
          const [{ n }] = yield* sql<{ n: string }>`SELECT count(*)::text AS n FROM events WHERE type = 'Tampered'`
          expect(n).toBe("0")
        }))

      it.effect("serves readiness, metrics, OpenAPI and docs", () =>
        Effect.gen(function*() {
          const ready = yield* get("/readyz")
          expect(ready.status).toBe(200)
          expect(ready.body.checks).toEqual({ database: "ok", object_store: "ok" })
          expect((yield* get("/healthz")).status).toBe(200)
          yield* uploadRaw("m\n1\n", "text/csv", "for-metrics", ACME)
          const metrics = yield* get("/metrics")
          expect(metrics.status).toBe(200)
          expect(metrics.body).toContain("dataset_registrations_total")
          const openapi = yield* get("/openapi.json")
          expect(openapi.body.openapi).toMatch(/^3\./)
          expect(Object.keys(openapi.body.paths)).toEqual(expect.arrayContaining(["/v1/datasets", "/v1/datasets/{dataset_id}"]))
          expect(Object.keys(openapi.body.paths["/v1/datasets"].post.requestBody.content)).toEqual(
            expect.arrayContaining(["multipart/form-data", "text/csv", "application/vnd.apache.parquet"])
          )
          const docs = yield* get("/docs")
          expect(docs.status).toBe(200)
          expect(docs.contentType).toContain("text/html")
          expect(docs.body).not.toMatch(/<script[^>]+src="https?:/)
          expectProblem(yield* get("/v1/no-such-route"), 404, "no route")
          const wrongMethod = yield* send(HttpClientRequest.del("/v1/datasets"))
          expectProblem(wrongMethod, 405, "not allowed")
          expect(wrongMethod.headers["allow"]?.split(", ").sort()).toEqual(["GET", "POST"])
        }))
    }
  )
}

describe("single-tenant default", () => {
  layer(testServer(deployments[0]), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("serves its embedded database on a socket only this user can open", () =>
      Effect.gen(function*() {
        const { dataDir } = yield* AppConfig
        const run = NodePath.join(NodePath.resolve(dataDir), "run")
        expect(Fs.statSync(run).mode & 0o777).toBe(0o700)
        expect(Fs.statSync(NodePath.join(run, ".s.PGSQL.5432")).isSocket()).toBe(true)
      }))

    it.effect("needs no token when AUTH_TOKENS is unset", () =>
      Effect.gen(function*() {
        const reply = yield* uploadRaw("a\n1\n", "text/csv", "no-auth")
        expect(reply.status).toBe(201)
        expect((yield* get(`/v1/datasets/${reply.body.dataset_id}`)).status).toBe(200)
      }))
  })
})
