// The `trainer` command line end to end: every command spawned as a process (through the package's
// bin) against a service started with `trainer serve`, output and exit codes asserted — including a
// live `jobs watch` that says what it is waiting for, then fills its bars as a worker process drives
// the job.
import { describe, expect, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { vegaFile } from "./support/Http.ts"
import { exited, freePort, root, sleep, Worker } from "./support/Processes.ts"

interface Outcome {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const bin = NodePath.join(root, "bin", "trainer.mjs")

const spawnCli = (args: ReadonlyArray<string>, env: Record<string, string>) => {
  const child = ChildProcess.spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
  const out = { stdout: "", stderr: "" }
  child.stdout!.on("data", (d) => (out.stdout += d))
  child.stderr!.on("data", (d) => (out.stderr += d))
  const done = new Promise<Outcome>((resolve) => child.on("exit", (code) => resolve({ code, ...out })))
  return { child, out, done }
}

describe("the trainer CLI", () => {
  it("registers, plans, runs, watches, lists, cancels and audits, with readable output and exit codes", async () => {
    const dataDir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "trainer-cli-"))
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const env = { TRAINER_URL: url }
    const cli = (...args: Array<string>) => spawnCli(args, env).done
    const server = spawnCli(["serve"], { DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: "Warning" })
    const workers: Array<Worker> = []
    try {
      for (let i = 0; i < 120 && !(await fetch(`${url}/readyz`).then((r) => r.ok, () => false)); i++) await sleep(250)

      const added = await cli("datasets", "add", vegaFile("seattle-weather.csv"), "--name", "weather")
      expect(added.code, added.stderr).toBe(0)
      expect(added.stdout).toMatch(/^ds_\w+ {2}weather {2}1461 rows × 6 columns/)
      const datasetId = added.stdout.split(" ")[0]!
      const listed = await cli("datasets", "list", "--json")
      expect(JSON.parse(listed.stdout).map((d: any) => d.dataset_id)).toEqual([datasetId])
      const shown = await cli("datasets", "show", datasetId)
      expect(shown.stdout).toMatch(/weather\s+string\s+0\s+5\s+rain \(641\), sun \(640\)/)

      const runFile = NodePath.join(dataDir, "run.json")
      Fs.writeFileSync(runFile, JSON.stringify({ dataset_id: datasetId, task: { type: "multiclass", target: "weather" }, models: ["xgboost"], n_trials: 2 }))
      const plan = await cli("plan", "--file", runFile)
      expect(plan.stdout).toMatch(/^6 nodes\nKIND +NODES\nprepare +1\nfit +2\n/)
      const mermaid = await cli("plan", "--file", runFile, "--models", "xgboost,tabm", "--format", "mermaid")
      expect(mermaid.stdout).toMatch(/^flowchart LR\n/)
      expect(mermaid.stdout).toContain(`["fit tabm ×2"]`)
      expect((await cli("plan", "--file", runFile, "--format", "dot")).stdout).toMatch(/^digraph "plan" \{/)

      // Refused requests: the server's problem as `path: reason`, exit 2; no service: exit 3.
      const refused = await cli("run", "--file", runFile, "--target", "nope")
      expect(refused.code).toBe(2)
      expect(refused.stderr).toContain("/task/target: is not a column of the dataset")
      const missing = await cli("jobs", "show", "job_nope")
      expect([missing.code, missing.stderr.trim()]).toEqual([2, "error: no job job_nope (404)"])
      expect((await spawnCli(["jobs", "list"], { TRAINER_URL: "http://127.0.0.1:1" }).done).code).toBe(3)
      expect((await cli("jobs", "bogus")).code).toBe(2)
      // Checked before sending, as the server would: every violation by path, unknown keys named.
      const zero = await cli("plan", "--file", runFile, "--trials", "0")
      expect([zero.code, zero.stderr.trim()]).toEqual([2, "error: /n_trials: must be at least 1 (422)"])
      const typoFile = NodePath.join(dataDir, "typo.json")
      Fs.writeFileSync(typoFile, JSON.stringify({ dataset_id: datasetId, task: { type: "multiclass", target: "weather" }, trials: 2 }))
      const typo = await cli("run", "--file", typoFile)
      expect(typo.code).toBe(2)
      expect(typo.stderr).toContain("/trials")
      expect(typo.stderr).toContain("n_trials")
      const asJson = await cli("jobs", "show", "job_nope", "--json")
      expect(JSON.parse(asJson.stderr)).toMatchObject({ error: { status: 404, detail: "no job job_nope" } })

      // A run, watched live: first it says what it waits for, then a worker drives it to the end.
      const submitted = await cli("run", "--file", runFile)
      expect(submitted.code).toBe(0)
      const jobId = submitted.stdout.trim()
      expect(jobId).toMatch(/^job_[0-9a-f]{32}$/)
      const watch = spawnCli(["jobs", "watch", jobId], env)
      for (let i = 0; i < 100 && !watch.out.stdout.includes("waiting:"); i++) await sleep(100)
      expect(watch.out.stdout).toContain("waiting: 1 node(s) ready, none leased yet — no worker is taking capabilities: prepare")
      expect(watch.out.stdout).toMatch(/fit +\[\.+\] 0\/2/)
      workers.push(new Worker([url], "cli-worker", { "work-ms": 100 }))
      const watched = await watch.done
      expect(watched.code, watched.stdout + watched.stderr).toBe(0)
      expect(watched.stdout).toMatch(/finalize +\[#+\] 1\/1/)
      expect(watched.stdout).toMatch(/total +\[#+\] 6\/6 nodes/)
      expect(watched.stdout.trim().split("\n").at(-1)).toBe("job succeeded")

      const shownJob = await cli("jobs", "show", jobId)
      expect(shownJob.stdout).toContain(`${jobId}  succeeded`)
      const events = await cli("events", jobId)
      expect(events.stdout.split("\n")[0]).toMatch(/^ +1 {2}\S+ {2}JobSubmitted/)
      const followed = await cli("events", jobId, "--follow", "--json")
      const lines = followed.stdout.trim().split("\n").map((l) => JSON.parse(l))
      expect(lines.map((e) => e.stream_version)).toEqual(lines.map((_, i) => i + 1))
      expect(lines.at(-1).type).toBe("JobSucceeded")

      // A cancelled job: the watch ends non-zero and says so.
      await workers[0]!.kill9()
      const other = (await cli("run", "--file", runFile, "--seed", "7")).stdout.trim()
      const watchOther = spawnCli(["jobs", "watch", other], env)
      await sleep(500)
      const cancelled = await cli("jobs", "cancel", other)
      expect(cancelled.stdout.trim()).toBe(`${other}  cancelled`)
      const otherWatch = await watchOther.done
      expect(otherWatch.code).toBe(1)
      expect(otherWatch.stdout.trim().split("\n").at(-1)).toBe("job cancelled")
      expect(otherWatch.stdout).toMatch(/total +\[#+\] 6\/6 nodes/)
      expect(otherWatch.stdout).toMatch(/fit +\[#+\] 2\/2 \(2 cancelled\)/)
      // --json: the events for a script, and the same exit code.
      const jsonWatch = await cli("jobs", "watch", other, "--json")
      expect(jsonWatch.code).toBe(1)
      expect(jsonWatch.stdout.trim().split("\n").map((l) => JSON.parse(l).type).at(-1)).toBe("JobCancelled")
      const list = await cli("jobs", "list", "--status", "cancelled", "--json")
      expect(JSON.parse(list.stdout).map((j: any) => j.job_id)).toEqual([other])
    } finally {
      for (const w of workers) await w.kill9()
      server.child.kill("SIGTERM")
      await exited(server.child)
    }
    // The operator's audit, on the stopped service's data.
    const audit = await spawnCli(["audit", "replay"], { DATA_DIR: dataDir }).done
    const typoDir = await spawnCli(["audit", "replay"], { DATA_DIR: `${dataDir}-typo` }).done
    Fs.rmSync(dataDir, { recursive: true, force: true })
    expect([typoDir.code, typoDir.stderr]).toEqual([2, expect.stringContaining("no embedded database in DATA_DIR")])
    expect(Fs.existsSync(`${dataDir}-typo`)).toBe(false)
    expect(audit.code, audit.stderr).toBe(0)
    expect(audit.stdout).toContain("0 differences")
  }, 180_000)
})
