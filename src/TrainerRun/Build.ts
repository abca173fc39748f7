// Stage 2, build: resolve the dataset and the teacher, check the request against the dataset's
// profile (§4 semantic rules), and resolve every default — the ResolvedTrainer the compiler takes.
import { SqlClient } from "@effect/sql"
import { Data, Effect } from "effect"
import * as Crypto from "node:crypto"
import * as Dns from "node:dns/promises"
import * as Net from "node:net"
import { AppConfig } from "../Config.ts"
import { Datasets } from "../Datasets.ts"
import type { ColumnProfile, Dataset, Dtype } from "../Domain/Dataset.ts"
import { FieldError, NotFound, Unprocessable } from "../Domain/Problem.ts"
import { blockedAddress } from "../Domain/TeacherUrl.ts"
import type { Filter, Scalar, Task, TrainerRequest } from "../Domain/Trainer.ts"
import { summarize } from "../Validation.ts"
import type { DatasetSpec, ResolvedTrainer, Teacher } from "./Compile.ts"
import { defaultFamilies, defaultHpo, defaultMetric, familiesFor, familyById, metricByName, metricsFor } from "./Registry.ts"

export class BuildFailed extends Data.TaggedError("BuildFailed")<{ readonly problem: Unprocessable | NotFound }> {}

const ORDERED: ReadonlyArray<Dtype> = ["int", "float", "date", "timestamp", "string"]
const NUMERIC: ReadonlyArray<Dtype> = ["int", "float"]
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}(:?\d{2})?)?)?$/

const validDate = (s: string) => {
  if (!ISO_DATE.test(s)) return false
  const d = new Date(`${s}T00:00:00Z`)
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(s)
}
const validTimestamp = (s: string) => ISO_TIMESTAMP.test(s) && validDate(s.slice(0, 10)) && !Number.isNaN(new Date(s.length === 10 ? `${s}T00:00:00Z` : s.replace(" ", "T")).getTime())

/** Why a filter value does not fit a column's dtype, or undefined when it does. */
export const valueProblem = (dtype: Dtype, value: Scalar): string | undefined => {
  switch (dtype) {
    case "int":
      if (typeof value !== "number" || !Number.isInteger(value)) return `must be an integer for int column (got ${JSON.stringify(value)})`
      return Number.isSafeInteger(value) ? undefined : "is beyond ±(2^53 − 1), where JSON numbers lose digits"
    case "float": return typeof value === "number" ? undefined : `must be a number for float column (got ${JSON.stringify(value)})`
    case "bool": return typeof value === "boolean" ? undefined : `must be true or false for bool column (got ${JSON.stringify(value)})`
    case "string": return typeof value === "string" ? undefined : `must be a string for string column (got ${JSON.stringify(value)})`
    case "date": return typeof value === "string" && validDate(value) ? undefined : `must be an ISO-8601 date (YYYY-MM-DD) for date column (got ${JSON.stringify(value)})`
    case "timestamp": return typeof value === "string" && validTimestamp(value) ? undefined : `must be an ISO-8601 timestamp (e.g. 2024-01-01T00:00:00Z; no offset means UTC) for timestamp column (got ${JSON.stringify(value)})`
  }
}

const checkFilter = (filter: Filter, columns: ReadonlyMap<string, ColumnProfile>, path: string, err: (p: string, m: string) => void) => {
  switch (filter.type) {
    case "bool": return filter.args.forEach((a, i) => checkFilter(a, columns, `${path}/args/${i}`, err))
    case "not": return checkFilter(filter.arg, columns, `${path}/arg`, err)
    case "comparison": {
      const column = columns.get(filter.col)
      if (!column) return err(`${path}/col`, `is not a column of the dataset (${[...columns.keys()].join(", ")})`)
      if (["lt", "le", "gt", "ge"].includes(filter.op) && !ORDERED.includes(column.dtype)) {
        return err(`${path}/op`, `${filter.op} needs an ordered column; ${filter.col} is ${column.dtype}`)
      }
      if (filter.value === undefined || filter.value === null) return
      const values = Array.isArray(filter.value) ? filter.value : [filter.value]
      values.forEach((v, i) => {
        const problem = valueProblem(column.dtype, v)
        if (problem) err(Array.isArray(filter.value) ? `${path}/value/${i}` : `${path}/value`, problem)
      })
    }
  }
}

const taskColumns = (task: Task): Array<[string, string]> => {
  switch (task.type) {
    case "forecasting": {
      const series = task.series_id === undefined || task.series_id === null ? [] : Array.isArray(task.series_id) ? task.series_id : [task.series_id]
      return [["/task/time_col", task.time_col], ...series.map((s, i): [string, string] => [Array.isArray(task.series_id) ? `/task/series_id/${i}` : "/task/series_id", s])]
    }
    case "sequence_regression":
    case "sequence_binclass":
    case "sequence_multiclass": return [["/task/sequence_id", task.sequence_id], ["/task/order_by", task.order_by]]
    default: return []
  }
}

const isClassification = (task: Task) => ["binclass", "multiclass", "sequence_binclass", "sequence_multiclass"].includes(task.type)

export class Build extends Effect.Service<Build>()("TrainerRun/Build", {
  effect: Effect.gen(function*() {
    const datasets = yield* Datasets
    const sql = yield* SqlClient.SqlClient
    const { limits, teacherUrlAllowlist } = yield* AppConfig

    const resolveDataset = (tenant: string, id: string) =>
      datasets.get(tenant, id).pipe(
        Effect.catchTag("DatasetNotFound", () => Effect.fail(new BuildFailed({ problem: NotFound.of(`no dataset ${id}`) })))
      )

    /** A same-server teacher is a succeeded job of the tenant: its finalized model. */
    const resolveTeacherModel = (tenant: string, modelId: string) =>
      sql<{ job_id: string; status: string }>`SELECT job_id, status FROM jobs WHERE tenant = ${tenant} AND job_id = ${modelId}`.pipe(
        Effect.flatMap((rows) =>
          rows.length === 0
            ? Effect.fail(new BuildFailed({ problem: NotFound.of(`no model ${modelId}: teacher_model_id must name a job of yours`) }))
            : rows[0]!.status !== "succeeded"
            ? Effect.fail(new BuildFailed({ problem: Unprocessable.field("/teacher_model_id", `job ${modelId} is ${rows[0]!.status}; only a succeeded job has a model to distil from`) }))
            : Effect.void
        )
      )

    /** Names resolve now and again when a worker connects (§8): a name that points inside is refused here already. */
    const resolveTeacherHost = (url: string) =>
      Effect.gen(function*() {
        const host = new URL(url).hostname.replace(/^\[|\]$/g, "").toLowerCase().replace(/\.+$/, "")
        if (Net.isIP(host) !== 0 || teacherUrlAllowlist.includes(host)) return undefined
        const addresses = yield* Effect.tryPromise(() => Dns.lookup(host, { all: true })).pipe(
          Effect.timeout("2 seconds"),
          Effect.orElseSucceed(() => [] as Array<{ address: string }>)
        )
        const bad = addresses.map((a) => [a.address, blockedAddress(a.address)] as const).find(([, why]) => why !== undefined)
        return bad ? `resolves to a ${bad[1]} address (${bad[0]}); allow it with TEACHER_URL_ALLOWLIST` : undefined
      })

    const build = Effect.fn("Build.build")(function*(tenant: string, request: TrainerRequest) {
      const dataset: Dataset = yield* resolveDataset(tenant, request.dataset_id)
      const errors: Array<FieldError> = []
      const err = (path: string, message: string) => errors.push(new FieldError({ path, message }))
      const columns = new Map(dataset.profile.columns.map((c) => [c.name, c]))
      const names = [...columns.keys()]
      const { task } = request

      // Columns the task names.
      const target = columns.get(task.target)
      if (!target) err("/task/target", `is not a column of the dataset (${names.join(", ")})`)
      const roles = taskColumns(task)
      for (const [path, col] of roles) {
        if (!columns.has(col)) err(path, `is not a column of the dataset (${names.join(", ")})`)
        else if (col === task.target) err(path, "is the target; it cannot also identify series, sequences or time")
      }
      for (const [path, col] of roles) {
        const first = roles.find(([, c]) => c === col)!
        if (first[0] !== path) err(path, `repeats ${col}, already given at ${first[0]}`)
      }
      if (task.type === "forecasting" && columns.has(task.time_col) && !["date", "timestamp"].includes(columns.get(task.time_col)!.dtype)) {
        err("/task/time_col", `must be a date or timestamp column; ${task.time_col} is ${columns.get(task.time_col)!.dtype}`)
      }
      if ("order_by" in task && columns.has(task.order_by) && !["int", "float", "date", "timestamp"].includes(columns.get(task.order_by)!.dtype)) {
        err("/task/order_by", `must be a numeric, date or timestamp column; ${task.order_by} is ${columns.get(task.order_by)!.dtype}`)
      }
      if (task.type === "forecasting") {
        // Each backtest window (or the holdout) holds out `horizon` rows per series at the end.
        const windows = request.cv_folds ?? 1
        if (task.horizon * windows >= dataset.profile.rows) {
          err("/task/horizon", `× ${windows} backtest window(s) needs more than ${task.horizon * windows} rows; the dataset has ${dataset.profile.rows}`)
        }
      }

      // The target suits the task.
      let classes = 0
      if (target) {
        if (["regression", "forecasting", "sequence_regression"].includes(task.type) && !NUMERIC.includes(target.dtype)) {
          err("/task/target", `must be numeric for ${task.type}; ${target.name} is ${target.dtype}`)
        }
        if (isClassification(task)) {
          classes = target.distinct_count
          if (target.dtype === "float") err("/task/target", `is a float column; ${task.type} needs class labels (int, bool or string)`)
          else if (task.type.endsWith("binclass") && (target.distinct_count !== 2 || !target.distinct_exact)) {
            err("/task/target", `must have exactly two distinct values for ${task.type}; ${target.name} has ${target.distinct_count}`)
          } else if (task.type.endsWith("multiclass") && target.distinct_count < 3) {
            err("/task/target", `must have at least three distinct values for ${task.type}; ${target.name} has ${target.distinct_count} (use binclass for two)`)
          } else if (task.type.endsWith("multiclass") && (target.distinct_count > limits.maxClasses || !target.distinct_exact)) {
            err("/task/target", `has ${target.distinct_count} distinct values; MAX_CLASSES is ${limits.maxClasses}`)
          }
        }
        if (task.type === "binclass" && task.positive_class !== undefined && task.positive_class !== null && target.values) {
          if (!target.values.some((v) => v.value === task.positive_class)) {
            err("/task/positive_class", `must be one of the target's values (${target.values.map((v) => JSON.stringify(v.value)).join(", ")})`)
          }
        }
        if (request.cv_folds && isClassification(task) && target.values) {
          const smallest = target.values.reduce((m, v) => Math.min(m, v.count), Infinity)
          if (smallest < request.cv_folds) {
            err("/cv_folds", `is ${request.cv_folds} but the rarest class has only ${smallest} rows; stratified folds need at least one per fold`)
          }
        }
      }
      if (request.cv_folds && request.cv_folds > dataset.profile.rows) err("/cv_folds", `is more than the dataset's ${dataset.profile.rows} rows`)

      // Features: listed, or every column but the target and the task's id/time columns.
      const reserved = new Set([task.target, ...taskColumns(task).map(([, c]) => c)])
      let features: ReadonlyArray<string>
      if (task.features) {
        features = task.features
        task.features.forEach((f, i) => {
          if (!columns.has(f)) err(`/task/features/${i}`, `is not a column of the dataset`)
          else if (reserved.has(f)) err(`/task/features/${i}`, `is the task's ${f === task.target ? "target" : "id or time column"} and cannot be a feature`)
        })
        if (new Set(task.features).size !== task.features.length) err("/task/features", "must not repeat a column")
      } else {
        features = names.filter((n) => !reserved.has(n))
        // A univariate series has no feature column: forecasting learns from the target's own history.
        if (features.length === 0 && task.type !== "forecasting") {
          err("/task/features", "no column is left to learn from once the target and id/time columns are set aside")
        }
      }

      if (request.filter) checkFilter(request.filter, columns, "/filter", err)

      // Metrics.
      const validMetrics = metricsFor(task.type).map((m) => m.name)
      const metrics = request.metrics ?? [defaultMetric[task.type]]
      request.metrics?.forEach((m, i) => {
        if (!metricByName.has(m)) err(`/metrics/${i}`, `is not a known metric; for ${task.type}: ${validMetrics.join(", ")}`)
        else if (!validMetrics.includes(m)) err(`/metrics/${i}`, `does not apply to ${task.type}; valid: ${validMetrics.join(", ")}`)
      })

      // Families.
      const validFamilies = familiesFor(task.type).map((f) => f.id)
      const rows = dataset.profile.rows
      const models = request.models ?? defaultFamilies(task.type, rows, features.length, classes)
      if (!request.models && models.length === 0) err("/models", `no family supports ${task.type} at ${rows} rows × ${features.length} features`)
      request.models?.forEach((m, i) => {
        const family = familyById.get(m)
        if (!family) return err(`/models/${i}`, `is not a known model family; for ${task.type}: ${validFamilies.join(", ")}`)
        if (!validFamilies.includes(m)) return err(`/models/${i}`, `does not support ${task.type}; valid: ${validFamilies.join(", ")}`)
        const l = family.limits
        if (rows > l.max_rows) err(`/models/${i}`, `${m} handles at most ${l.max_rows} rows; the dataset has ${rows}`)
        if (features.length > l.max_features) err(`/models/${i}`, `${m} handles at most ${l.max_features} features; the run has ${features.length}`)
        if (classes > l.max_classes) err(`/models/${i}`, `${m} handles at most ${l.max_classes} classes; the target has ${classes}`)
      })

      // Teacher.
      let teacher: Teacher | null = null
      if (request.teacher_model_id) {
        yield* resolveTeacherModel(tenant, request.teacher_model_id)
        teacher = { kind: "model", model_id: request.teacher_model_id }
      } else if (request.teacher_predict_url) {
        const rebinding = yield* resolveTeacherHost(request.teacher_predict_url)
        if (rebinding) err("/teacher_predict_url", rebinding)
        teacher = { kind: "url", url: request.teacher_predict_url, header_names: Object.keys(request.teacher_headers ?? {}).sort() }
      }

      if (errors.length > 0) return yield* new BuildFailed({ problem: Unprocessable.of(summarize(errors), errors) })

      const n_trials = request.n_trials ?? limits.defaultTrials
      const spec: DatasetSpec = {
        dataset_id: dataset.dataset_id,
        name: dataset.name,
        uri: dataset.uri,
        sha256: dataset.sha256,
        format: dataset.format,
        rows,
        schema: dataset.profile.columns.map((c) => ({ name: c.name, dtype: c.dtype })),
        target: task.target,
        features,
        filter: request.filter ?? null
      }
      const resolved: ResolvedTrainer = {
        task: { ...task, features } as Task,
        dataset: spec,
        models,
        metrics,
        hpo: request.hpo ?? defaultHpo(n_trials),
        n_trials,
        cv_folds: request.cv_folds ?? null,
        ensemble: request.ensemble ?? false,
        grid_size: request.grid_size ?? null,
        teacher,
        seed: request.seed ?? Crypto.randomBytes(4).readUInt32BE(0)
      }
      return resolved
    })

    return { build } as const
  }),
  dependencies: [Datasets.Default]
}) {}
