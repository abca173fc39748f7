// A simulated worker speaking the §7 protocol over plain HTTP, as a worker in any language would:
// lease → (heartbeat) → complete or fail, with failover across API replicas and safe retries of its
// reports (a lease token fences them, so a repeated report is refused, never applied twice).
//
//   node --import tsx scripts/sim-worker.ts --url http://127.0.0.1:8080[,http://…] [--id w1]
//     [--token T] [--caps prepare,fit:xgboost | --caps all] [--max-nodes 2] [--work-ms 50]
//     [--fail-rate 0] [--lease-seconds 60] [--until-idle-ms 0] [--seed 1]
//
// It prints one line per step (`leased <node_id>`, `completed <node_id>`, `failed <node_id>`,
// `refused <node_id> <status>`) so a supervisor can tell what it holds; it exits 0 after
// --until-idle-ms without work (0: never).

const FLAGS = ["url", "id", "token", "caps", "max-nodes", "work-ms", "fail-rate", "lease-seconds", "until-idle-ms", "seed"]
const usage = `usage: node --import tsx scripts/sim-worker.ts --url http://127.0.0.1:8080[,…] [--${FLAGS.slice(1).join(" … --")} …]`
const args = new Map<string, string>()
for (let i = 2; i < process.argv.length; i += 2) {
  const flag = process.argv[i]!
  if (flag === "--help" || flag === "-h") {
    console.log(usage)
    process.exit(0)
  }
  if (!flag.startsWith("--") || !FLAGS.includes(flag.slice(2)) || process.argv[i + 1] === undefined) {
    console.error(`sim-worker: ${flag.startsWith("--") && FLAGS.includes(flag.slice(2)) ? `${flag} needs a value` : `unknown flag ${flag}`}\n${usage}`)
    process.exit(2)
  }
  args.set(flag.slice(2), process.argv[i + 1]!)
}

const number = (flag: string, fallback: number, check: (n: number) => boolean, rule: string) => {
  if (!args.has(flag)) return fallback
  const n = Number(args.get(flag))
  if (!Number.isFinite(n) || !check(n)) {
    console.error(`sim-worker: --${flag} ${args.get(flag)}: must be ${rule}\n${usage}`)
    process.exit(2)
  }
  return n
}
const urls = (args.get("url") ?? "http://127.0.0.1:8080").split(",")
const id = args.get("id") ?? `sim-${process.pid}`
const token = args.get("token")
const caps = (args.get("caps") ?? "all") === "all" ? null : args.get("caps")!.split(",")
const maxNodes = number("max-nodes", 2, (n) => Number.isInteger(n) && n >= 1 && n <= 100, "a whole number from 1 to 100")
const workMs = number("work-ms", 50, (n) => n >= 0, "a number of milliseconds ≥ 0")
const failRate = number("fail-rate", 0, (n) => n >= 0 && n <= 1, "a probability from 0 to 1")
const leaseSeconds = args.has("lease-seconds") ? number("lease-seconds", 60, (n) => Number.isInteger(n) && n >= 1, "a whole number of seconds ≥ 1") : undefined
const untilIdleMs = number("until-idle-ms", 0, (n) => n >= 0, "a number of milliseconds ≥ 0 (0: never stop)")
let seed = number("seed", process.pid, Number.isInteger, "a whole number")
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed / 2147483648
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
let current = 0

/** POSTs to the current replica; on a network error or 5xx tries the next one, with backoff. */
let idleSince = Date.now()
const call = async (path: string, body: unknown): Promise<{ status: number; body: any }> => {
  for (let attempt = 0;; attempt++) {
    // Idle includes time spent unable to reach any replica.
    if (path === "/v1/workers/lease" && untilIdleMs > 0 && Date.now() - idleSince > untilIdleMs) {
      console.error("sim-worker: nothing to lease for --until-idle-ms; stopping")
      process.exit(0)
    }
    const base = urls[current % urls.length]
    try {
      const response = await fetch(`${base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000)
      })
      const text = await response.text()
      if (response.status === 401 || response.status === 403) {
        console.error(`sim-worker: ${base} refused the credentials (${response.status}): pass --token`)
        process.exit(3)
      }
      if (response.status < 500) return { status: response.status, body: text ? JSON.parse(text) : null }
    } catch (e) {
      // connection refused, reset or timed out: another replica may answer
      if (attempt % 20 === 19) console.error(`sim-worker: ${base} unreachable (${(e as Error).message}); still trying`)
    }
    current++
    await sleep(Math.min(1000, 50 * 2 ** Math.min(attempt, 5)))
  }
}

for (;;) {
  const leased = await call("/v1/workers/lease", { worker_id: id, capabilities: caps, max_nodes: maxNodes, ...(leaseSeconds ? { lease_seconds: leaseSeconds } : {}) })
  const leases: Array<{ node_id: string; lease_token: string; expires_at: string }> = leased.status === 200 ? leased.body.leases : []
  if (leases.length === 0) {
    if (untilIdleMs > 0 && Date.now() - idleSince > untilIdleMs) break
    await sleep(100)
    continue
  }
  idleSince = Date.now()
  for (const l of leases) console.log(`leased ${l.node_id}`)
  for (const l of leases) {
    const work = workMs * (0.5 + random())
    await sleep(work / 2)
    const beat = await call(`/v1/nodes/${l.node_id}/heartbeat`, { lease_token: l.lease_token })
    if (beat.status !== 200 || beat.body.cancel) {
      // Told to stop: give the node back at once (a final failure), so a cancel ends the job now
      // rather than when the lease runs out.
      if (beat.status === 200) await call(`/v1/nodes/${l.node_id}/fail`, { lease_token: l.lease_token, error: { message: "stopped: the job is cancelled or ended", retryable: false } })
      console.log(`refused ${l.node_id} ${beat.status}${beat.body?.cancel ? " cancel" : ""}`)
      continue
    }
    await sleep(work / 2)
    const failing = random() < failRate
    const report = failing
      ? await call(`/v1/nodes/${l.node_id}/fail`, { lease_token: l.lease_token, error: { message: "simulated failure", retryable: random() < 0.7 } })
      : await call(`/v1/nodes/${l.node_id}/complete`, { lease_token: l.lease_token, result: { uri: `mem://${id}/${l.node_id}` } })
    console.log(report.status === 200 ? `${failing ? "failed" : "completed"} ${l.node_id}` : `refused ${l.node_id} ${report.status}`)
  }
}
