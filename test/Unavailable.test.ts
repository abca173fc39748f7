import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { embedded, testServer } from "./support/Deployments.ts"
import { expectProblem, get, readBytes, uploadRaw, vegaFile } from "./support/Http.ts"

// An S3 store nobody answers at: the service still starts, says what is down, and writes nothing.
layer(
  testServer(embedded, {
    S3_BUCKET: "missing",
    S3_ENDPOINT: "http://127.0.0.1:9",
    AWS_ACCESS_KEY_ID: "x",
    AWS_SECRET_ACCESS_KEY: "y"
  }),
  { excludeTestServices: true, timeout: "60 seconds" }
)("object store down", (it) => {
  it.effect("readiness and registration answer 503 naming the object store, and nothing is recorded", () =>
    Effect.gen(function*() {
      expectProblem(yield* get("/readyz"), 503, "object_store")
      const reply = yield* uploadRaw(readBytes(vegaFile("seattle-weather.csv")), "text/csv", "weather")
      expectProblem(reply, 503, "object store")
      const sql = yield* SqlClient.SqlClient
      const [{ n }] = yield* sql<{ n: string }>`SELECT count(*)::text AS n FROM events`
      expect(n).toBe("0")
    }))
})
