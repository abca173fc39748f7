// Submitting from code with the typed SDK: register a dataset, plan, submit, and read the job back.
//
//   npm start &                                 # the service (embedded default)
//   node --import tsx examples/submit.ts        # TRAINER_URL / TRAINER_TOKEN to point elsewhere
import { FetchHttpClient } from "@effect/platform"
import { Config, Console, Effect, Option, Redacted } from "effect"
import * as Fs from "node:fs"
import { TrainerClient } from "../src/Client.ts"

const program = Effect.gen(function*() {
  const baseUrl = yield* Config.string("TRAINER_URL").pipe(Config.withDefault("http://127.0.0.1:8080"))
  const token = yield* Config.option(Config.redacted("TRAINER_TOKEN"))
  const client = yield* TrainerClient.make({ baseUrl, token: Option.getOrUndefined(Option.map(token, Redacted.value)) })
  const csv = Fs.readFileSync(new URL("../node_modules/vega-datasets/data/seattle-weather.csv", import.meta.url))
  const dataset = yield* client.upload(csv, { name: "seattle-weather" })
  yield* Console.log(`dataset ${dataset.dataset_id}: ${dataset.profile.rows} rows, ${dataset.profile.columns.length} columns`)

  const run = {
    dataset_id: dataset.dataset_id,
    task: { type: "multiclass" as const, target: "weather" },
    models: ["xgboost", "tabm"],
    n_trials: 4,
    cv_folds: 3
  }
  const plan = yield* client.trainer.plan({ payload: run, urlParams: {} })
  yield* Console.log(`plan: ${plan.graph.total} nodes`, plan.graph.by_kind)

  // Retried on 503 and network errors with one Idempotency-Key: however often it is sent, one job.
  const { job_id } = yield* client.submit(run)
  const job = yield* client.jobs.get({ path: { job_id } })
  yield* Console.log(`job ${job.job_id}: ${job.status}, trainer ${job.trainer.uri}`)
}).pipe(
  // Errors are typed by tag: a 422 lists every violation with its JSON Pointer.
  Effect.catchTag("Unprocessable", (e) => Effect.fail(`refused: ${e.errors?.map((x) => `${x.path}: ${x.message}`).join("; ") ?? e.detail}`)),
  Effect.catchTags({
    Unauthorized: (e) => Effect.fail(`${e.detail}: set TRAINER_TOKEN`),
    RequestError: (e) => Effect.fail(`cannot reach the service (${e.message}): start it, or set TRAINER_URL`)
  }),
  Effect.provide(FetchHttpClient.layer)
)

Effect.runPromise(program).catch((e) => {
  console.error(typeof e === "string" ? e : e instanceof Error ? e.message : e)
  process.exit(1)
})
