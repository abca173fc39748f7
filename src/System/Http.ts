// Liveness, readiness (each dependency checked with a deadline) and metrics.
import { HttpApiBuilder } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { Api } from "../Api.ts"
import { ServiceUnavailable } from "../Domain/Problem.ts"
import { renderPrometheus } from "../Metrics.ts"
import { ObjectStore } from "../ObjectStore.ts"
import { Readiness } from "./Api.ts"

export const SystemLive = HttpApiBuilder.group(Api, "system", (handlers) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const store = yield* ObjectStore
    const check = (effect: Effect.Effect<unknown, unknown>) =>
      effect.pipe(
        Effect.timeout("2 seconds"),
        Effect.as("ok"),
        Effect.catchAllCause(() => Effect.succeed("unavailable"))
      )
    return handlers
      .handle("healthz", () => Effect.succeed({ status: "ok" as const }))
      .handle("readyz", () =>
        Effect.gen(function*() {
          const [database, objectStore] = yield* Effect.all([check(sql`SELECT 1`), check(store.check)], { concurrency: 2 })
          const checks = { database, object_store: objectStore }
          const down = Object.entries(checks).filter(([, v]) => v !== "ok").map(([k]) => k)
          if (down.length > 0) return yield* ServiceUnavailable.of(`not ready: ${down.join(", ")} unavailable`)
          return new Readiness({ status: "ready", checks })
        }))
      .handle("metrics", () => renderPrometheus)
  })
)
