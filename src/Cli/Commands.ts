// The `trainer` commands that talk to a running service through the typed SDK: datasets, run, plan,
// jobs (list, show, cancel, watch), events. Human-readable by default, `--json` for scripts; every
// failure becomes a CliExit (readable lines, an exit code).
import { Args, Command, Options } from "@effect/cli"
import { FetchHttpClient } from "@effect/platform"
import { Config, Console, Effect, Option, Stream } from "effect"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { type Client, TrainerClient } from "../Client.ts"
import type { StoredEvent } from "../Domain/Events.ts"
import { TaskTypes, TrainerRequest } from "../Domain/Trainer.ts"
import { decodeStrict } from "../Validation.ts"
import { render as renderPicture } from "../TrainerRun/Picture.ts"
import { CliExit, table, toCliExit } from "./Output.ts"
import * as Watch from "./Watch.ts"

const url = Options.text("url").pipe(
  Options.withDescription("the service's base URL (env TRAINER_URL)"),
  Options.withFallbackConfig(Config.string("TRAINER_URL")),
  Options.withDefault("http://127.0.0.1:8080")
)
const token = Options.text("token").pipe(
  Options.withDescription("bearer token (env TRAINER_TOKEN)"),
  Options.withFallbackConfig(Config.string("TRAINER_TOKEN")),
  Options.optional
)
const json = Options.boolean("json").pipe(Options.withDescription("print JSON for scripts"))
const remote = { url, token, json }

interface Remote {
  readonly url: string
  readonly token: Option.Option<string>
  readonly json: boolean
}

/** Runs a command's body with a client; every failure is turned into a CliExit. */
const withClient = <A, E>(o: Remote, body: (client: Client) => Effect.Effect<A, E, never>) =>
  TrainerClient.make({ baseUrl: o.url, token: Option.getOrUndefined(o.token), attempts: 3 }).pipe(
    Effect.flatMap(body),
    Effect.provide(FetchHttpClient.layer),
    Effect.mapError((e) => toCliExit(e, o.json))
  )

const printJson = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

// datasets ------------------------------------------------------------------------------------

const datasetsAdd = Command.make(
  "add",
  { ...remote, file: Args.file({ name: "FILE", exists: "yes" }), name: Options.text("name").pipe(Options.optional) },
  (o) =>
    withClient(o, (client) =>
      Effect.gen(function*() {
        const ext = NodePath.extname(o.file).toLowerCase()
        const format = ext === ".parquet" ? "parquet" as const : ext === ".tsv" ? "tsv" as const : "csv" as const
        const dataset = yield* client.upload(Fs.readFileSync(o.file), { name: Option.getOrElse(o.name, () => NodePath.basename(o.file)), format })
        if (o.json) return yield* printJson(dataset)
        yield* Console.log(`${dataset.dataset_id}  ${dataset.name}  ${dataset.profile.rows} rows × ${dataset.profile.columns.length} columns`)
      }))
).pipe(Command.withDescription("Register a CSV, TSV or Parquet file; prints its dataset_id"))

const datasetsList = Command.make("list", { ...remote }, (o) =>
  withClient(o, (client) =>
    Effect.gen(function*() {
      const page = yield* client.datasets.list({ urlParams: { limit: 500 } })
      if (o.json) return yield* printJson(page.items)
      yield* Console.log(table(page.items.map((d) => [d.dataset_id, d.name, d.format, d.profile.rows, d.profile.columns.length, d.created_at]), ["DATASET", "NAME", "FORMAT", "ROWS", "COLS", "CREATED"]))
    }))).pipe(Command.withDescription("List datasets, newest first"))

const datasetsShow = Command.make("show", { ...remote, id: Args.text({ name: "DATASET_ID" }) }, (o) =>
  withClient(o, (client) =>
    Effect.gen(function*() {
      const d = yield* client.datasets.get({ path: { dataset_id: o.id } })
      if (o.json) return yield* printJson(d)
      yield* Console.log(`${d.dataset_id}  ${d.name}  ${d.format}, ${d.profile.rows} rows, ${d.size_bytes} bytes, sha256 ${d.sha256.slice(0, 12)}…`)
      yield* Console.log(table(
        d.profile.columns.map((c) => [
          c.name,
          c.dtype,
          c.null_count,
          `${c.distinct_count}${c.distinct_exact ? "" : "~"}`,
          c.min ?? "",
          c.max ?? "",
          (c.values ?? []).slice(0, 5).map((v) => `${v.value} (${v.count})`).join(", ")
        ]),
        ["COLUMN", "TYPE", "NULLS", "DISTINCT", "MIN", "MAX", "TOP VALUES"]
      ))
    }))).pipe(Command.withDescription("One dataset and its profile as a table"))

const datasets = Command.make("datasets").pipe(Command.withSubcommands([datasetsAdd, datasetsList, datasetsShow]), Command.withDescription("Register and inspect datasets"))

// run and plan ---------------------------------------------------------------------------------

const runOptions = {
  file: Options.file("file", { exists: "yes" }).pipe(Options.withDescription("the run as JSON (§4); flags override its fields"), Options.optional),
  dataset: Options.text("dataset").pipe(Options.optional),
  task: Options.choice("task", TaskTypes).pipe(Options.optional),
  target: Options.text("target").pipe(Options.optional),
  timeCol: Options.text("time-col").pipe(Options.withDescription("forecasting: the time column"), Options.optional),
  horizon: Options.integer("horizon").pipe(Options.withDescription("forecasting: steps ahead"), Options.optional),
  seriesId: Options.text("series-id").pipe(Options.withDescription("forecasting: comma-separated series columns"), Options.optional),
  freq: Options.text("freq").pipe(Options.withDescription("forecasting: a frequency alias (D, h, 15min, W-MON, MS)"), Options.optional),
  sequenceId: Options.text("sequence-id").pipe(Options.withDescription("sequence_*: the sequence column"), Options.optional),
  orderBy: Options.text("order-by").pipe(Options.withDescription("sequence_*: the order column"), Options.optional),
  models: Options.text("models").pipe(Options.withDescription("comma-separated families"), Options.optional),
  metrics: Options.text("metrics").pipe(Options.withDescription("comma-separated metrics"), Options.optional),
  trials: Options.integer("trials").pipe(Options.optional),
  folds: Options.integer("folds").pipe(Options.optional),
  hpo: Options.choice("hpo", ["random", "optuna"]).pipe(Options.optional),
  ensemble: Options.boolean("ensemble"),
  grid: Options.float("grid-size").pipe(Options.withDescription("Pareto sweep step over metric weights"), Options.optional),
  seed: Options.integer("seed").pipe(Options.optional)
}

interface RunFlags {
  readonly file: Option.Option<string>
  readonly dataset: Option.Option<string>
  readonly task: Option.Option<string>
  readonly target: Option.Option<string>
  readonly timeCol: Option.Option<string>
  readonly horizon: Option.Option<number>
  readonly seriesId: Option.Option<string>
  readonly freq: Option.Option<string>
  readonly sequenceId: Option.Option<string>
  readonly orderBy: Option.Option<string>
  readonly models: Option.Option<string>
  readonly metrics: Option.Option<string>
  readonly trials: Option.Option<number>
  readonly folds: Option.Option<number>
  readonly hpo: Option.Option<string>
  readonly ensemble: boolean
  readonly grid: Option.Option<number>
  readonly seed: Option.Option<number>
}

/** The request from --file and the flags (flags win); the server validates it, naming each field. */
const buildRequest = (o: RunFlags) =>
  Effect.gen(function*() {
    let request: Record<string, any> = {}
    if (Option.isSome(o.file)) {
      const text = Fs.readFileSync(o.file.value, "utf8")
      request = yield* Effect.try({
        try: () => JSON.parse(text),
        catch: (e) => new CliExit({ code: 2, message: `error: ${o.file.pipe(Option.getOrElse(() => ""))} is not JSON: ${(e as Error).message}` })
      })
    }
    const list = (s: string) => s.split(",").map((x) => x.trim()).filter((x) => x !== "")
    if (Option.isSome(o.dataset)) request.dataset_id = o.dataset.value
    const taskFields: Record<string, unknown> = {}
    const put = <A>(key: string, value: Option.Option<A>, f: (a: A) => unknown = (a) => a) => {
      if (Option.isSome(value)) taskFields[key] = f(value.value)
    }
    put("type", o.task)
    put("target", o.target)
    put("time_col", o.timeCol)
    put("horizon", o.horizon)
    put("series_id", o.seriesId, (v) => (v.includes(",") ? list(v) : v))
    put("freq", o.freq)
    put("sequence_id", o.sequenceId)
    put("order_by", o.orderBy)
    if (Object.keys(taskFields).length > 0) request.task = { ...(request.task ?? {}), ...taskFields }
    if (Option.isSome(o.models)) request.models = list(o.models.value)
    if (Option.isSome(o.metrics)) request.metrics = list(o.metrics.value)
    if (Option.isSome(o.trials)) request.n_trials = o.trials.value
    if (Option.isSome(o.folds)) request.cv_folds = o.folds.value
    if (Option.isSome(o.hpo)) request.hpo = o.hpo.value
    if (o.ensemble) request.ensemble = true
    if (Option.isSome(o.grid)) request.grid_size = o.grid.value
    if (Option.isSome(o.seed)) request.seed = o.seed.value
    if (request.dataset_id === undefined) return yield* new CliExit({ code: 2, message: "error: name the dataset: --dataset ID, or dataset_id in --file" })
    // The same strict decoding as the server's: unknown keys refused (with the closest name), every
    // violation listed by its JSON Pointer — before anything is sent.
    return yield* decodeStrict(TrainerRequest)(request)
  })

const byKind = (kinds: Record<string, number>) => table(Object.entries(kinds).map(([k, n]) => [k, n]), ["KIND", "NODES"])

const run = Command.make(
  "run",
  { ...remote, ...runOptions, key: Options.text("idempotency-key").pipe(Options.withDescription("reuse to retry safely (default: a new key per run)"), Options.optional) },
  (o) =>
    withClient(o, (client) =>
      Effect.gen(function*() {
        const request = yield* buildRequest(o)
        const result = yield* client.submit(request, Option.getOrElse(o.key, () => crypto.randomUUID()))
        if (o.json) return yield* printJson(result)
        yield* Console.log(result.job_id)
      }))
).pipe(Command.withDescription("Submit a trainer run (from flags or --file run.json); prints the job_id"))

const plan = Command.make(
  "plan",
  { ...remote, ...runOptions, format: Options.choice("format", ["summary", "mermaid", "dot"]).pipe(Options.withDefault("summary" as const)) },
  (o) =>
    withClient(o, (client) =>
      Effect.gen(function*() {
        const request = yield* buildRequest(o)
        const result = yield* client.trainer.plan({ payload: request, urlParams: { nodes: o.format === "summary" ? "false" : "true" } })
        if (o.format !== "summary") {
          return yield* Console.log(renderPicture((result.graph.nodes ?? []) as any, o.format, "plan").trimEnd())
        }
        if (o.json) return yield* printJson(result)
        yield* Console.log(`${result.graph.total} nodes\n${byKind(result.graph.by_kind)}`)
      }))
).pipe(Command.withDescription("Dry run: the graph a run would make (--format summary|mermaid|dot)"))

// jobs and events ------------------------------------------------------------------------------

const jobsList = Command.make(
  "list",
  { ...remote, status: Options.choice("status", ["pending", "running", "cancelling", "succeeded", "failed", "cancelled"]).pipe(Options.optional), dataset: Options.text("dataset").pipe(Options.optional) },
  (o) =>
    withClient(o, (client) =>
      Effect.gen(function*() {
        const page = yield* client.jobs.list({
          urlParams: { limit: 500, ...Option.match(o.status, { onNone: () => ({}), onSome: (status) => ({ status }) }), ...Option.match(o.dataset, { onNone: () => ({}), onSome: (dataset_id) => ({ dataset_id }) }) }
        })
        if (o.json) return yield* printJson(page.items)
        yield* Console.log(table(page.items.map((j) => [j.job_id, j.status, j.dataset_id, `${(j.nodes as any).succeeded ?? 0}/${j.nodes.total}`, j.created_at]), ["JOB", "STATUS", "DATASET", "DONE", "CREATED"]))
      }))
).pipe(Command.withDescription("List jobs, newest first"))

const jobId = Args.text({ name: "JOB_ID" })

const jobsShow = Command.make("show", { ...remote, id: jobId }, (o) =>
  withClient(o, (client) =>
    Effect.gen(function*() {
      const j = yield* client.jobs.get({ path: { job_id: o.id } })
      if (o.json) return yield* printJson(j)
      const { total, ...statuses } = j.nodes as Record<string, number>
      yield* Console.log(`${j.job_id}  ${j.status}  dataset ${j.dataset_id}  created ${j.created_at}`)
      yield* Console.log(`nodes: ${total} (${Object.entries(statuses).map(([s, n]) => `${n} ${s}`).join(", ")})`)
      yield* Console.log(byKind(j.graph.by_kind))
      if (j.result !== undefined) yield* Console.log(`result: ${JSON.stringify(j.result)}`)
    }))).pipe(Command.withDescription("One job: status, node counts, graph by kind"))

const jobsCancel = Command.make("cancel", { ...remote, id: jobId }, (o) =>
  withClient(o, (client) =>
    Effect.gen(function*() {
      const j = yield* client.jobs.cancel({ path: { job_id: o.id } })
      if (o.json) return yield* printJson(j)
      yield* Console.log(`${j.job_id}  ${j.status}`)
    }))).pipe(Command.withDescription("Cancel a job: no new leases; ends cancelled once no worker holds a node"))

const eventLine = (e: StoredEvent) => {
  const d = e.data as any
  const subject = d.node_id ? String(d.node_id).slice(e.stream_id.length + 1) : d.node_ids ? `${d.node_ids.length} node(s)` : ""
  const extra = d.worker_id ? ` by ${d.worker_id}` : d.error ? `: ${d.error.message}` : d.reason ? `: ${d.reason}` : ""
  return `${String(e.stream_version).padStart(5)}  ${e.recorded_at}  ${e.type.padEnd(18)} ${subject}${extra}`
}

/** Ends with the job: 0 when it succeeded, 1 when it failed or was cancelled. */
const endOf = (state: Watch.WatchState, say: boolean) =>
  state.end === undefined || state.end.status === "succeeded"
    ? Effect.void
    : Effect.fail(new CliExit({ code: 1, message: say ? `job ${state.end.status}${state.end.reason ? `: ${state.end.reason}` : ""}` : "" }))

const events = Command.make("events", { ...remote, id: jobId, follow: Options.boolean("follow").pipe(Options.withAlias("f")) }, (o) =>
  withClient(o, (client) =>
    Effect.gen(function*() {
      const print = (e: StoredEvent) => Console.log(o.json ? JSON.stringify(e) : eventLine(e))
      if (!o.follow) {
        let cursor: string | undefined
        do {
          const page = yield* client.jobs.events({ path: { job_id: o.id }, urlParams: { limit: 500, ...(cursor ? { cursor: Number(Buffer.from(cursor, "base64url").toString()) } : {}) } })
          yield* Effect.forEach(page.items, print, { discard: true })
          cursor = page.next_cursor ?? undefined
        } while (cursor)
        return
      }
      yield* client.jobs.get({ path: { job_id: o.id } })
      yield* client.follow(o.id).pipe(Stream.runForEach(print))
    }))).pipe(Command.withDescription("The job's events in order (--follow: live, until the job ends)"))

const watch = Command.make("watch", { ...remote, id: jobId }, (o) =>
  withClient(o, (client) =>
    Effect.gen(function*() {
      yield* client.jobs.get({ path: { job_id: o.id } })
      const state = Watch.initialState(Date.now())
      const tty = process.stdout.isTTY === true
      let drawn = 0
      let lastPrinted = ""
      let lastWaiting = ""
      const draw = (force = false) =>
        Effect.sync(() => {
          const now = Date.now()
          const lines = Watch.render(state, now)
          const note = Watch.waiting(state, now, 3000)
          if (tty) {
            if (drawn > 0) process.stdout.write(`\x1b[${drawn}A\x1b[J`)
            const block = [...lines, ...(note ? [note] : [])]
            process.stdout.write(block.join("\n") + "\n")
            drawn = block.length
          } else {
            // Not a terminal: a new block only when a count moved, the waiting note once.
            const counts = lines.slice(0, -1).join("\n")
            if (force || counts !== lastPrinted) process.stdout.write(`${lines.join("\n")}\n`)
            lastPrinted = counts
            const gist = note?.replace(/ for \S+ —/, " —") ?? ""
            if (note && gist !== lastWaiting) process.stdout.write(`${note}\n`)
            lastWaiting = gist
          }
        })
      const say = (line: string) =>
        Effect.sync(() => {
          if (tty && drawn > 0) {
            process.stdout.write(`\x1b[${drawn}A\x1b[J`)
            drawn = 0
          }
          process.stdout.write(`${line}\n`)
        })
      const events = client.follow(o.id).pipe(
        Stream.tap((e) =>
          Effect.gen(function*() {
            const line = Watch.apply(state, e, Date.now())
            if (o.json) return yield* Console.log(JSON.stringify(e))
            if (line) yield* say(line)
          })
        ),
        Stream.groupedWithin(1000, "200 millis"),
        Stream.tap(() => (o.json ? Effect.void : draw()))
      )
      const ticks = Stream.tick("1 second").pipe(Stream.tap(() => (o.json ? Effect.void : draw())))
      yield* Stream.merge(events, ticks, { haltStrategy: "left" }).pipe(Stream.runDrain)
      if (!o.json) {
        yield* draw(tty)
        yield* Console.log(state.end ? `job ${state.end.status}${state.end.reason ? `: ${state.end.reason}` : ""}` : "the stream ended")
      }
      // The human view already said how it ended; --json output says it on stderr.
      yield* endOf(state, o.json)
    }))).pipe(Command.withDescription("Live progress from the event stream: a bar per node kind, failures, ETA; exit 0 on success"))

const jobs = Command.make("jobs").pipe(Command.withSubcommands([jobsList, jobsShow, jobsCancel, watch]), Command.withDescription("List, inspect, cancel and watch jobs"))

export const remoteCommands = [datasets, run, plan, jobs, events] as const
