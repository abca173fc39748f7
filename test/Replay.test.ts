import { HttpClientRequest } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Replay, upcast, upcasters } from "../src/Scheduler/Replay.ts"
import { deployments, testServer } from "./support/Deployments.ts"
import { readBytes, send, uploadRaw, vegaFile } from "./support/Http.ts"

const run = (body: unknown, key?: string) =>
  send(HttpClientRequest.post("/v1/trainer/run").pipe(
    HttpClientRequest.bodyText(JSON.stringify(body), "application/json"),
    HttpClientRequest.setHeaders(key ? { "idempotency-key": key } : {})
  ))

for (const deployment of deployments) {
  layer(testServer(deployment), { excludeTestServices: true, timeout: "120 seconds" })(`replay on ${deployment.name}`, (it) => {
    it.effect("rebuilds every projection from the log alone, and finds a tampered row", () =>
      Effect.gen(function*() {
        const weather = (yield* uploadRaw(readBytes(vegaFile("seattle-weather.csv")), "text/csv", "weather")).body.dataset_id
        yield* uploadRaw("a,b\n1,2\n", "text/csv", "tiny")
        for (const [i, task] of [{ type: "multiclass", target: "weather" }, { type: "regression", target: "temp_max" }].entries()) {
          const reply = yield* run({ dataset_id: weather, task, n_trials: 3, cv_folds: 2, ensemble: i === 0, seed: i }, `replay-${i}`)
          expect(reply.status).toBe(200)
        }
        const replay = yield* Replay
        const clean = yield* replay.audit()
        expect(clean.differences).toEqual([])
        expect(clean.rows).toMatchObject({ datasets: 2, jobs: 2, idempotency_keys: 2 })
        expect(clean.events).toBe(4)

        // Tamper with a projection (the log itself refuses changes): the audit names the row.
        const sql = yield* SqlClient.SqlClient
        const [job] = yield* sql<{ job_id: string }>`SELECT job_id FROM jobs LIMIT 1`
        yield* sql`UPDATE jobs SET status = 'succeeded' WHERE job_id = ${job!.job_id}`
        yield* sql`DELETE FROM computation_node WHERE node_id = ${`${job!.job_id}.prepare`}`
        const tampered = yield* replay.audit()
        expect(tampered.differences.map((d) => `${d.table} ${d.key}`).sort()).toEqual([
          `computation_node ${job!.job_id}.prepare`,
          `jobs ${job!.job_id}`
        ])
        const jobDiff = tampered.differences.find((d) => d.table === "jobs")!
        expect((jobDiff.live as any).status).toBe("succeeded")
        expect((jobDiff.replayed as any).status).toBe("pending")
        // The scratch schema is dropped after the audit.
        const schemas = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM information_schema.schemata WHERE schema_name LIKE 'audit_%'`
        expect(schemas[0]!.n).toBe(0)
      }).pipe(Effect.provide(Replay.Default)))
  })
}

describe("upcasting", () => {
  it("lifts an old event version by version to the current shape, and leaves current ones alone", () => {
    upcasters.Example = { 1: (d) => ({ ...d, renamed: d.old, old: undefined }), 2: (d) => ({ ...d, added: true }) }
    try {
      expect(upcast("Example", 1, { old: 5 })).toEqual({ renamed: 5, old: undefined, added: true })
      expect(upcast("Example", 3, { renamed: 5 })).toEqual({ renamed: 5 })
      expect(upcast("JobSubmitted", 1, { a: 1 })).toEqual({ a: 1 })
    } finally {
      delete upcasters.Example
    }
  })

  it("a JobFailed written before v2 replays with no nodes to close, as it was projected then", () => {
    const v1 = { job_id: "job_x", reason: "node job_x.prepare failed", at: "2026-12-01T00:00:00.000Z" }
    expect(upcast("JobFailed", 1, v1)).toEqual({ ...v1, node_ids: [] })
    expect(upcast("JobFailed", 2, { ...v1, node_ids: ["job_x.fit"] })).toEqual({ ...v1, node_ids: ["job_x.fit"] })
  })
})
