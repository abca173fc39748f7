// Faults of a submission: a full inbox (503 + Retry-After, safe to retry) and kill -9 of the
// service mid-submission (every job whole or absent; acknowledged jobs survive; retries are safe).
import { HttpClientRequest } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import pg from "pg"
import { freshDatabase, postgresS3, testServer } from "./support/Deployments.ts"
import { send, uploadRaw } from "./support/Http.ts"
import { freePort, Service, sleep } from "./support/Processes.ts"

const csv = "x,y\n" + Array.from({ length: 40 }, (_, i) => `${i},${i * 2 + (i % 3)}`).join("\n") + "\n"
const runBody = (dataset_id: string, seed: number) => ({ dataset_id, task: { type: "regression", target: "y" }, models: ["xgboost"], n_trials: 4, cv_folds: 3, seed })

layer(testServer(postgresS3, { SCHEDULER_INBOX_SIZE: "1", SCHEDULER_BATCH_SIZE: "1" }), { excludeTestServices: true, timeout: "120 seconds" })(
  "a full scheduler inbox",
  (it) => {
    it.effect("answers 503 with Retry-After, and a retry with the same key gives one job", () =>
      Effect.gen(function*() {
        const dataset = (yield* uploadRaw(csv, "text/csv", "small")).body.dataset_id
        const keys = Array.from({ length: 40 }, () => Crypto.randomUUID())
        const submit = (key: string, i: number) =>
          send(HttpClientRequest.post("/v1/trainer/run").pipe(
            HttpClientRequest.bodyText(JSON.stringify(runBody(dataset, i)), "application/json"),
            HttpClientRequest.setHeader("idempotency-key", key)
          ))
        const first = yield* Effect.all(keys.map((k, i) => submit(k, i)), { concurrency: "unbounded" })
        const refused = first.flatMap((r, i) => (r.status === 503 ? [i] : []))
        expect(first.every((r) => r.status === 200 || r.status === 503)).toBe(true)
        expect(refused.length).toBeGreaterThan(0)
        for (const i of refused) {
          expect(first[i]!.contentType).toMatch(/^application\/problem\+json/)
          expect(first[i]!.body.detail).toContain("SCHEDULER_INBOX_SIZE")
          expect(Number(first[i]!.headers["retry-after"])).toBeGreaterThan(0)
        }
        // Retry until every key has its job; the accepted ones answer with the job they already have.
        const final = new Map<number, string>()
        for (let round = 0; round < 20 && final.size < keys.length; round++) {
          for (const [i, key] of keys.entries()) {
            if (final.has(i)) continue
            const r = yield* submit(key, i)
            if (r.status === 200) final.set(i, r.body.job_id)
          }
        }
        expect(final.size).toBe(keys.length)
        first.forEach((r, i) => r.status === 200 && expect(final.get(i)).toBe(r.body.job_id))
        const sql = yield* SqlClient.SqlClient
        const [{ n }] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM jobs WHERE dataset_id = ${dataset}`
        expect(n).toBe(keys.length)
      }))
  }
)

const root = NodePath.join(import.meta.dirname, "..")

const start = (env: Record<string, string>) => {
  const child = ChildProcess.spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: "Warning", ...env },
    stdio: ["ignore", "ignore", "inherit"]
  })
  return child
}

const waitReady = async (base: string) => {
  for (let i = 0; i < 120; i++) {
    try {
      if ((await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2000) })).ok) return
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error("service did not become ready")
}

describe("kill -9 during submissions", () => {
  it.live("leaves every job whole or absent, keeps acknowledged jobs, and retries stay safe", () =>
    Effect.scoped(Effect.gen(function*() {
      const db = yield* freshDatabase
      const dataDir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "trainer-kill-"))
      const port = yield* Effect.promise(freePort)
      const base = `http://127.0.0.1:${port}`
      const env = { DATABASE_URL: db.url, DATA_DIR: dataDir, PORT: String(port) }
      const outcome = yield* Effect.promise(async () => {
        let child = start(env)
        await waitReady(base)
        const reg = await fetch(`${base}/v1/datasets?name=small`, { method: "POST", headers: { "content-type": "text/csv" }, body: csv })
        const dataset = (await reg.json()).dataset_id as string
        const keys = Array.from({ length: 60 }, () => Crypto.randomUUID())
        const submit = (key: string, i: number) =>
          fetch(`${base}/v1/trainer/run`, {
            method: "POST",
            headers: { "content-type": "application/json", "idempotency-key": key },
            body: JSON.stringify(runBody(dataset, i)),
            signal: AbortSignal.timeout(20_000)
          }).then(async (r) => ({ status: r.status, body: await r.json().catch(() => null) }), () => ({ status: 0, body: null }))
        await submit(Crypto.randomUUID(), 999) // warm: the first request loads the pipeline
        // Kill once some submissions are acknowledged and others are in flight.
        let acked = 0
        const killed = new Promise<void>((resolve) => {
          const check = setInterval(() => {
            if (acked >= 8) {
              clearInterval(check)
              child.kill("SIGKILL")
              resolve()
            }
          }, 2)
        })
        const inflight = keys.map((k, i) =>
          new Promise((r) => setTimeout(r, i * 8)).then(() => submit(k, i)).then((r) => {
            if (r.status === 200) acked++
            return r
          })
        )
        await Promise.race([killed, new Promise((r) => setTimeout(r, 20_000))])
        const first = await Promise.all(inflight)
        if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once("exit", r))
        child = start(env)
        await waitReady(base)
        const retried = await Promise.all(keys.map((k, i) => submit(k, i)))
        child.kill("SIGTERM")
        return { first, retried, dataset }
      })
      const acknowledged = outcome.first.flatMap((r, i) => (r.status === 200 ? [[i, r.body.job_id as string] as const] : []))
      const client = new pg.Client({ connectionString: db.url })
      yield* Effect.promise(() => client.connect())
      const jobs = (yield* Effect.promise(() =>
        client.query(`SELECT j.job_id, j.idempotency_key, (j.graph_summary->>'total')::int AS total,
                             (SELECT count(*)::int FROM computation_node c WHERE c.job_id = j.job_id) AS nodes,
                             (SELECT count(*)::int FROM events e WHERE e.stream_id = j.job_id AND e.type = 'JobSubmitted') AS events
                      FROM jobs j`)
      )).rows
      const orphanEvents = (yield* Effect.promise(() =>
        client.query(`SELECT count(*)::int AS n FROM events e WHERE e.type = 'JobSubmitted' AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.job_id = e.stream_id)`)
      )).rows[0].n
      yield* Effect.promise(() => client.end())
      Fs.rmSync(dataDir, { recursive: true, force: true })
      // Whole or absent: every job has all its nodes and exactly one JobSubmitted event; no event without its job.
      for (const j of jobs) expect([j.nodes, j.events]).toEqual([j.total, 1])
      expect(orphanEvents).toBe(0)
      // Every acknowledged job survived and the retry with its key answers with it.
      const byId = new Set(jobs.map((j) => j.job_id))
      for (const [i, id] of acknowledged) {
        expect(byId.has(id)).toBe(true)
        expect(outcome.retried[i]!.body.job_id).toBe(id)
      }
      // Every retry succeeded, and each key has exactly one job.
      expect(outcome.retried.map((r) => r.status)).toEqual(Array(60).fill(200))
      expect(new Set(jobs.map((j) => j.idempotency_key)).size).toBe(jobs.length)
      expect(jobs.length).toBe(61)
      // The kill really landed mid-burst: some were acknowledged, some were not.
      expect(acknowledged.length).toBeGreaterThanOrEqual(8)
      expect(acknowledged.length).toBeLessThan(60)
    })), 120_000)
})

describe("start-up", () => {
  it("a request sent while the service starts is refused or answered, never left hanging", async () => {
    const dataDir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "trainer-startup-"))
    const service = new Service(await freePort(), { DATA_DIR: dataDir })
    const outcomes: Array<string> = []
    try {
      // The embedded database takes seconds to start on an empty DATA_DIR: ask all along.
      for (let i = 0; i < 600 && !outcomes.includes("200"); i++) {
        outcomes.push(await fetch(`${service.base}/readyz`, { signal: AbortSignal.timeout(5000) }).then(
          (r) => String(r.status),
          (e: Error) => (e.name === "TimeoutError" ? "hung" : "refused")
        ))
        await sleep(20)
      }
    } finally {
      await service.stop()
      Fs.rmSync(dataDir, { recursive: true, force: true })
    }
    expect(outcomes.filter((o) => o !== "refused")).toEqual(["200"])
  }, 60_000)

  it.live("replicas started together on an empty database all come up (migrations run once)", () =>
    Effect.scoped(Effect.gen(function*() {
      const db = yield* freshDatabase
      const dataDir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "trainer-replicas-start-"))
      const services = yield* Effect.promise(() => Promise.all([1, 2, 3].map(() => Service.start({ DATABASE_URL: db.url, DATA_DIR: dataDir }))))
      yield* Effect.promise(() => Promise.all(services.map((s) => s.stop())))
      Fs.rmSync(dataDir, { recursive: true, force: true })
      const client = new pg.Client({ connectionString: db.url })
      yield* Effect.promise(() => client.connect())
      const { rows } = yield* Effect.promise(() => client.query("SELECT migration_id FROM schema_migrations ORDER BY 1"))
      yield* Effect.promise(() => client.end())
      expect(rows.map((r) => r.migration_id)).toEqual([1, 2, 3, 4])
    })), 120_000)
})
