// Many replicas and faults, with real processes: API replicas on one PostgreSQL (or the embedded
// default alone), simulated worker processes, and while they run: kill -9 of a worker holding
// leases, kill -9 of an API replica during completions, the database cut off for a while, and a
// full inbox. Afterwards every acknowledged job exists whole, every key has one job, no node is left
// leased, the log satisfies its invariants, a live follower saw exactly the log, and the audit
// replay finds zero differences.
import { describe, expect, it } from "@effect/vitest"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import pg from "pg"
import { checkLog, type LogRow } from "./support/Invariants.ts"
import { auditReplay, databaseProxy, Service, sleep, Worker } from "./support/Processes.ts"
import { PG_ADMIN_URL, S3_CREDENTIALS, S3_ENDPOINT, s3Client } from "./support/Deployments.ts"
import { CreateBucketCommand } from "@aws-sdk/client-s3"

const csv = "x,y\n" + Array.from({ length: 40 }, (_, i) => `${i},${i * 2 + (i % 3)}`).join("\n") + "\n"
const runBody = (dataset_id: string, seed: number) => ({ dataset_id, task: { type: "regression", target: "y" }, models: ["xgboost"], n_trials: 2, cv_folds: 2, seed })
const trace = (...xs: Array<unknown>) => process.env.TRACE_SCENARIO && console.log(new Date().toISOString(), ...xs)
const TERMINAL = new Set(["succeeded", "failed", "cancelled"])

interface Reply {
  readonly status: number
  readonly body: any
  readonly retryAfter?: number
}

const request = async (url: string, init: RequestInit = {}): Promise<Reply> => {
  try {
    const r = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) })
    const text = await r.text()
    return { status: r.status, body: text ? JSON.parse(text) : null, retryAfter: Number(r.headers.get("retry-after") ?? 0) }
  } catch {
    return { status: 0, body: null }
  }
}

/** What a careful client does: the same key and body until an answer that is not an outage. */
const submitUntilAnswered = async (bases: ReadonlyArray<string>, key: string, body: unknown, tally: Record<number, number>) => {
  for (let attempt = 0; attempt < 200; attempt++) {
    const r = await request(`${bases[attempt % bases.length]}/v1/trainer/run`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify(body)
    })
    tally[r.status] = (tally[r.status] ?? 0) + 1
    if (r.status === 200 || r.status === 201) return r.body.job_id as string
    if (r.status !== 0 && r.status !== 503) throw new Error(`submission answered ${r.status}: ${JSON.stringify(r.body)}`)
    await sleep(Math.min(1000, (r.retryAfter ?? 0) * 100 + 50 * Math.min(attempt + 1, 10)))
  }
  throw new Error(`key ${key} never got an answer`)
}

const getAll = async (base: string, path: string) => {
  const items: Array<any> = []
  let cursor: string | null = null
  do {
    const sep = path.includes("?") ? "&" : "?"
    const r = await request(`${base}${path}${sep}limit=500${cursor ? `&cursor=${cursor}` : ""}`)
    if (r.status !== 200) throw new Error(`${path}: ${r.status}`)
    items.push(...r.body.items)
    cursor = r.body.next_cursor
  } while (cursor)
  return items
}

/** A live follower that reconnects with Last-Event-ID (to any replica) until the job's terminal event. */
const followUntilEnd = async (bases: ReadonlyArray<string>, jobId: string) => {
  const events: Array<any> = []
  let last: string | undefined
  for (let attempt = 0; attempt < 500; attempt++) {
    try {
      const response = await fetch(`${bases[attempt % bases.length]}/v1/jobs/${jobId}/events?follow=true`, {
        headers: last ? { "last-event-id": last } : {}
      })
      trace("follow", attempt, response.status, last)
      if (response.status === 204) return events
      if (response.status === 200 && response.body) {
        const decoder = new TextDecoder()
        let buffer = ""
        const reader = response.body.getReader()
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          buffer += decoder.decode(value, { stream: true })
          let end: number
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const frame = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            const fields = Object.fromEntries(frame.split("\n").filter((l) => !l.startsWith(":")).map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]))
            if (fields.data === undefined) continue
            events.push(JSON.parse(fields.data))
            last = fields.id
            if (["JobSucceeded", "JobFailed", "JobCancelled"].includes(fields.event!)) return events
          }
        }
      }
    } catch (e) {
      trace("follow error", String(e))
      // the replica died or the stream broke: reconnect
    }
    await sleep(200)
  }
  throw new Error("the follower never saw the end")
}

interface Deployment {
  readonly services: Array<Service>
  readonly replayEnv: Record<string, string>
  readonly cutDatabase?: (ms: number) => Promise<void>
  readonly cleanup: () => Promise<void>
}

const settings = { LEASE_SECONDS: "3", LEASE_SWEEP_SECONDS: "1", MAX_ATTEMPTS: "3" }

const postgresReplicas = async (): Promise<Deployment> => {
  const name = `trainer_replicas_${Crypto.randomBytes(4).toString("hex")}`
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const direct = new URL(PG_ADMIN_URL)
  direct.pathname = `/${name}`
  const proxy = await databaseProxy({ host: direct.hostname, port: Number(direct.port || 5432) })
  const proxied = new URL(direct)
  proxied.port = String(proxy.port)
  const bucket = `trainer-replicas-${Crypto.randomBytes(4).toString("hex")}`
  const s3 = s3Client()
  await s3.send(new CreateBucketCommand({ Bucket: bucket }))
  s3.destroy()
  const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "trainer-replicas-"))
  const common = {
    ...settings,
    DATABASE_URL: proxied.toString(),
    DATA_DIR: dir,
    S3_BUCKET: bucket,
    S3_ENDPOINT,
    S3_REGION: "us-east-1",
    S3_FORCE_PATH_STYLE: "true",
    AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey
  }
  // Replica B has a tiny inbox, so bursts fill it (503 + Retry-After) and clients retry elsewhere.
  const services = await Promise.all([
    Service.start(common),
    Service.start({ ...common, SCHEDULER_INBOX_SIZE: "2", SCHEDULER_BATCH_SIZE: "1" })
  ])
  return {
    services,
    replayEnv: { DATABASE_URL: direct.toString(), DATA_DIR: dir },
    cutDatabase: async (ms) => {
      proxy.cut()
      await sleep(ms)
      proxy.restore()
    },
    cleanup: async () => {
      await proxy.close()
      const a = new pg.Client({ connectionString: PG_ADMIN_URL })
      await a.connect()
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await a.end()
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

const embeddedAlone = async (): Promise<Deployment> => {
  const dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "trainer-embedded-faults-"))
  const env = { ...settings, DATA_DIR: dir, SCHEDULER_INBOX_SIZE: "4", SCHEDULER_BATCH_SIZE: "2" }
  return {
    services: [await Service.start(env)],
    replayEnv: { DATA_DIR: dir },
    cleanup: async () => Fs.rmSync(dir, { recursive: true, force: true })
  }
}

const scenario = async (deployment: Deployment) => {
  const { services } = deployment
  const bases = services.map((s) => s.base)
  const tally: Record<number, number> = {}
  const workers: Array<Worker> = []
  try {
    const registered = await request(`${bases[0]}/v1/datasets?name=small`, { method: "POST", headers: { "content-type": "text/csv" }, body: csv })
    expect(registered.status).toBeLessThan(300)
    const dataset = registered.body.dataset_id as string

    // The same key sent to every replica at once, twice over: one job per key.
    const keys = Array.from({ length: 16 }, () => Crypto.randomUUID())
    const answers = await Promise.all(keys.flatMap((key, i) => [...bases, ...bases].map((_, r) => submitUntilAnswered([bases[r % bases.length]!, ...bases], key, runBody(dataset, i), tally))))
    const jobOf = new Map<string, string>()
    keys.forEach((key, i) => {
      const ids = new Set(answers.slice(i * bases.length * 2, (i + 1) * bases.length * 2))
      expect(ids.size, `key ${key} answered with ${[...ids].join(", ")}`).toBe(1)
      jobOf.set(key, [...ids][0]!)
    })

    trace("const rotate = (k: number)")
    const rotate = (k: number) => bases.map((_, i) => bases[(i + k) % bases.length]!)
    for (let w = 0; w < 5; w++) workers.push(new Worker(rotate(w), `w${w}`, { "work-ms": 80, "fail-rate": 0.1, "max-nodes": 2, seed: w + 1 }))
    const watched = jobOf.get(keys[0]!)!
    const follower = followUntilEnd([...bases].reverse(), watched)

    // More submissions keep arriving while the faults happen; their clients retry with their keys.
    const lateKeys = Array.from({ length: 10 }, () => Crypto.randomUUID())
    const late = Promise.all(lateKeys.map(async (key, i) => {
      await sleep(i * 250)
      return submitUntilAnswered(rotate(i), key, runBody(dataset, 100 + i), tally)
    }))

    trace("// Fault 1:")
    // Fault 1: kill -9 a worker while it holds leases; its nodes must be re-leased and finished.
    let victim: Worker | undefined
    for (let i = 0; i < 200 && !victim; i++) {
      victim = workers.find((w) => w.holding.size > 0)
      if (!victim) await sleep(25)
    }
    expect(victim, "no worker ever held a lease").toBeDefined()
    const orphaned = [...victim!.holding]
    await victim!.kill9()
    workers.push(new Worker(rotate(1), "w-replacement", { "work-ms": 80, "max-nodes": 2 }))

    trace("// Fault 2:")
    // Fault 2: kill -9 an API replica in the middle of completions, and bring it back.
    await sleep(700)
    await services[0]!.kill9()
    await sleep(1000)
    await services[0]!.restart()

    trace("// Fault 3:")
    // Fault 3: the database is unreachable for a while.
    if (deployment.cutDatabase) {
      await sleep(500)
      await deployment.cutDatabase(3000)
    }

    trace("for (const [i, id] of (await l")
    for (const [i, id] of (await late).entries()) jobOf.set(lateKeys[i]!, id)

    trace("// Everything ends:")
    // Everything ends: every job terminal, no node left under lease.
    const deadline = Date.now() + 150_000
    let jobs: Array<any> = []
    let leased: Array<any> = []
    for (;;) {
      jobs = await getAll(bases[0]!, "/v1/jobs")
      leased = (await Promise.all(jobs.map((j) => getAll(bases[0]!, `/v1/jobs/${j.job_id}/nodes?status=leased`)))).flat()
      trace("waiting", jobs.filter((j) => !TERMINAL.has(j.status)).length, "open jobs", leased.length, "leased", tally)
      if ((jobs.every((j) => TERMINAL.has(j.status)) && leased.length === 0) || Date.now() > deadline) break
      await sleep(500)
    }
    expect(jobs.filter((j) => !TERMINAL.has(j.status)).map((j) => `${j.job_id} ${j.status} ${JSON.stringify(j.nodes)}`)).toEqual([])
    expect(leased.map((n) => n.node_id)).toEqual([])
    for (const w of workers) await w.kill9()

    trace("// One job per key")
    // One job per key, each acknowledged job whole.
    expect(jobs.length).toBe(keys.length + lateKeys.length)
    expect(new Set(jobs.map((j) => j.job_id))).toEqual(new Set(jobOf.values()))
    const streams: Array<LogRow> = []
    for (const job of jobs) {
      const nodes = await getAll(bases[0]!, `/v1/jobs/${job.job_id}/nodes`)
      expect(nodes.length).toBe(job.nodes.total)
      const events = await getAll(bases[0]!, `/v1/jobs/${job.job_id}/events`)
      expect(events.filter((e) => e.type === "JobSubmitted")).toHaveLength(1)
      streams.push(...events)
    }
    // The killed worker's nodes were leased again by someone else and reported, or their job ended.
    for (const nodeId of orphaned) {
      const jobId = nodeId.slice(0, nodeId.indexOf("."))
      const events = streams.filter((e) => e.stream_id === jobId && e.data.node_id === nodeId)
      const expiry = events.findIndex((e) => e.type === "NodeLeaseExpired")
      expect(expiry, `${nodeId}: ${events.map((e) => e.type).join(", ")}`).toBeGreaterThanOrEqual(0)
    }
    const checked = checkLog(streams)
    expect(checked.problems).toEqual([])
    expect(checked.types.NodeLeaseExpired ?? 0).toBeGreaterThan(0)

    trace("// The follower,")
    // The follower, through reconnects and the faults, saw the log exactly, up to the end.
    const followed = await follower
    const watchedLog = streams.filter((e) => e.stream_id === watched)
    const end = watchedLog.findIndex((e) => ["JobSucceeded", "JobFailed", "JobCancelled"].includes(e.type))
    expect(followed.map((e) => e.stream_version)).toEqual(watchedLog.slice(0, end + 1).map((e) => e.stream_version))
    expect(followed).toEqual(watchedLog.slice(0, end + 1))

    for (const s of services) await s.stop()
    trace("const audit = await auditRepla")
    const audit = await auditReplay(deployment.replayEnv)
    expect(audit.result?.differences, audit.stderr).toEqual([])
    expect(audit.code).toBe(0)
    return { tally, events: streams.length, jobs: jobs.length }
  } finally {
    for (const w of workers) await w.kill9()
    for (const s of services) await s.stop()
    await deployment.cleanup()
  }
}

describe("real processes under faults", () => {
  it("two API replicas on one PostgreSQL, six workers, kill -9s and a database outage: nothing lost, nothing doubled", async () => {
    const outcome = await scenario(await postgresReplicas())
    trace("outcome", JSON.stringify(outcome))
    // The run really met the faults it claims: outages answered and retried, a full inbox refused.
    expect((outcome.tally[0] ?? 0) + (outcome.tally[503] ?? 0)).toBeGreaterThan(0)
  }, 300_000)

  it("the embedded default alone, with kill -9 of the service and of a worker mid-lease", async () => {
    await scenario(await embeddedAlone())
  }, 300_000)
})
