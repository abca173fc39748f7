// The main job, end to end on the embedded default: start the service, register a real dataset
// (vega-datasets' seattle-weather.csv), submit a trainer run with CV, HPO and ensembling, and show
// what the API answers: the job_id, the graph by node kind, the job.
import { FetchHttpClient, HttpBody, HttpClient, HttpClientRequest, HttpServer } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { ConfigProvider, Console, Effect, Layer, Logger, LogLevel } from "effect"
import * as Fs from "node:fs"
import * as NodePath from "node:path"
import { AppConfig } from "../src/Config.ts"
import { ServerLive } from "../src/Http.ts"

const seattle = NodePath.join(import.meta.dirname, "..", "node_modules", "vega-datasets", "data", "seattle-weather.csv")

const table = (rows: ReadonlyArray<ReadonlyArray<string>>) => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ")).join("\n")
}

const program = Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  const address = server.address as HttpServer.TcpAddress
  const base = `http://${address.hostname}:${address.port}`
  const client = (yield* HttpClient.HttpClient).pipe(HttpClient.mapRequest(HttpClientRequest.prependUrl(base)))
  yield* Console.log(`service listening on ${base} (embedded PostgreSQL + filesystem store in DATA_DIR)`)

  const started = performance.now()
  const registered = yield* client.post("/v1/datasets", {
    urlParams: { name: "seattle-weather" },
    body: HttpBody.uint8Array(new Uint8Array(Fs.readFileSync(seattle)), "text/csv")
  }).pipe(Effect.flatMap((r) => Effect.map(r.json, (body) => ({ status: r.status, body: body as any }))))
  const ms = (performance.now() - started).toFixed(0)
  const ds = registered.body
  yield* Console.log(`\nPOST /v1/datasets?name=seattle-weather → ${registered.status} in ${ms} ms`)
  yield* Console.log(`dataset_id ${ds.dataset_id}  rows ${ds.profile.rows}  sha256 ${ds.sha256.slice(0, 12)}…  ${ds.uri}\n`)
  yield* Console.log(table([
    ["column", "dtype", "nulls", "distinct", "min", "max"],
    ...ds.profile.columns.map((c: any) => [c.name, c.dtype, String(c.null_count), String(c.distinct_count), String(c.min ?? ""), String(c.max ?? "")])
  ]))

  // A trainer run that exercises cross-validation, hyper-parameter search and ensembling.
  const run = {
    dataset_id: ds.dataset_id,
    task: { type: "multiclass", target: "weather" },
    models: ["xgboost", "tabm", "tabicl"],
    metrics: ["logloss", "accuracy"],
    hpo: "random",
    n_trials: 6,
    cv_folds: 5,
    ensemble: true,
    grid_size: 0.25,
    filter: { type: "comparison", col: "date", op: "ge", value: "2013-01-01" },
    seed: 2026
  }
  yield* Console.log(`\nPOST /v1/trainer/run ${JSON.stringify(run)}`)
  const t1 = performance.now()
  const submitted = yield* client.post("/v1/trainer/run", {
    headers: { "idempotency-key": `demo-${ds.sha256.slice(0, 12)}` },
    body: HttpBody.unsafeJson(run)
  }).pipe(Effect.flatMap((r) => Effect.map(r.json, (body) => ({ status: r.status, body: body as any }))))
  yield* Console.log(`→ ${submitted.status} in ${(performance.now() - t1).toFixed(0)} ms: ${JSON.stringify(submitted.body)}`)
  const job = (yield* client.get(`/v1/jobs/${submitted.body.job_id}`).pipe(Effect.flatMap((r) => r.json))) as any
  yield* Console.log(`\njob_id ${job.job_id}: the graph by node kind`)
  yield* Console.log(table([["kind", "nodes"], ...Object.entries(job.graph.by_kind).map(([k, n]) => [k, String(n)])]))
  yield* Console.log(`\nGET /v1/jobs/${job.job_id}\n${JSON.stringify(job, null, 2)}`)
  const ready = yield* client.get("/readyz").pipe(Effect.flatMap((r) => r.json))
  yield* Console.log(`GET /readyz → ${JSON.stringify(ready)}`)
  yield* Console.log(`\nStart the service itself with \`npm start\` (docs at http://127.0.0.1:8080/docs).`)
}).pipe(Effect.scoped)

const config = ConfigProvider.fromMap(new Map([["PORT", "0"]])).pipe(ConfigProvider.orElse(() => ConfigProvider.fromEnv()))

program.pipe(
  Effect.provide(ServerLive.pipe(Layer.provide(AppConfig.layer))),
  Effect.provide(FetchHttpClient.layer),
  Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)),
  Effect.withConfigProvider(config),
  NodeRuntime.runMain
)
