// The trainer run request (§4): the filter tree, the seven tasks, and every field's shape rule.
// Rules that need the dataset's profile live in the build stage; these need only the request.
import { Schema } from "effect"

const Column = Schema.String.pipe(
  Schema.minLength(1, { message: () => "must name a column" }),
  Schema.maxLength(256, { message: () => "must be at most 256 characters" })
)

export const Scalar = Schema.Union(Schema.String, Schema.Number, Schema.Boolean)
export type Scalar = typeof Scalar.Type

export const ComparisonOp = Schema.Literal("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "is_null", "is_not_null")
export type ComparisonOp = typeof ComparisonOp.Type

export interface Comparison {
  readonly type: "comparison"
  readonly col: string
  readonly op: ComparisonOp
  readonly value?: Scalar | ReadonlyArray<Scalar> | null | undefined
}
export interface BoolExpr {
  readonly type: "bool"
  readonly op: "and" | "or"
  readonly args: ReadonlyArray<Filter>
}
export interface Not {
  readonly type: "not"
  readonly arg: Filter
}
export type Filter = Comparison | BoolExpr | Not

export const Comparison = Schema.Struct({
  type: Schema.Literal("comparison"),
  col: Column,
  op: ComparisonOp,
  value: Schema.optional(Schema.NullOr(Schema.Union(Scalar, Schema.Array(Scalar))))
}).pipe(
  Schema.filter((c) => {
    const list = c.op === "in" || c.op === "not_in"
    const unary = c.op === "is_null" || c.op === "is_not_null"
    if (unary) return c.value === undefined || c.value === null || { path: ["value"], message: `must be absent for ${c.op}` }
    if (list) {
      return (Array.isArray(c.value) && c.value.length > 0) || { path: ["value"], message: `must be a non-empty list for ${c.op}` }
    }
    if (c.value === undefined || c.value === null) return { path: ["value"], message: `is required for ${c.op}` }
    return !Array.isArray(c.value) || { path: ["value"], message: `must be a single value for ${c.op} (use in / not_in for lists)` }
  })
)

export const Filter: Schema.Schema<Filter> = Schema.Union(
  Comparison,
  Schema.Struct({
    type: Schema.Literal("bool"),
    op: Schema.Literal("and", "or"),
    args: Schema.Array(Schema.suspend((): Schema.Schema<Filter> => Filter)).pipe(
      Schema.minItems(1, { message: () => "must hold at least one filter" })
    )
  }),
  Schema.Struct({ type: Schema.Literal("not"), arg: Schema.suspend((): Schema.Schema<Filter> => Filter) })
).annotations({ identifier: "Filter" })

const Features = Schema.optional(Schema.NullOr(Schema.Array(Column).pipe(Schema.minItems(1, { message: () => "must list at least one column (or be null for all)" }))))
const base = { target: Column, features: Features }

/** Pandas-style frequency aliases with an optional multiple: `D`, `h`, `15min`, `W-MON`, `MS`. */
const Freq = Schema.String.pipe(
  Schema.pattern(/^[1-9]?\d*(ns|us|ms|s|S|min|T|h|H|D|B|W(-(MON|TUE|WED|THU|FRI|SAT|SUN))?|ME|MS|M|QE|QS|Q|YE|YS|Y|A)$/, {
    message: () => "must be a frequency alias such as D, h, 15min, W-MON, MS, QS, Y"
  })
)

const sequence = { sequence_id: Column, order_by: Column }

export const Task = Schema.Union(
  Schema.Struct({ type: Schema.Literal("regression"), ...base }),
  Schema.Struct({ type: Schema.Literal("binclass"), ...base, positive_class: Schema.optional(Schema.NullOr(Scalar)) }),
  Schema.Struct({ type: Schema.Literal("multiclass"), ...base }),
  Schema.Struct({
    type: Schema.Literal("forecasting"),
    ...base,
    time_col: Column,
    horizon: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1, { message: () => "must be at least 1" })),
    series_id: Schema.optional(Schema.NullOr(Schema.Union(Column, Schema.Array(Column).pipe(Schema.minItems(1))))),
    freq: Schema.optional(Schema.NullOr(Freq))
  }),
  Schema.Struct({ type: Schema.Literal("sequence_regression"), ...base, ...sequence }),
  Schema.Struct({ type: Schema.Literal("sequence_binclass"), ...base, ...sequence }),
  Schema.Struct({ type: Schema.Literal("sequence_multiclass"), ...base, ...sequence })
).annotations({ identifier: "Task" })
export type Task = typeof Task.Type
export type TaskType = Task["type"]
export const TaskTypes = ["regression", "binclass", "multiclass", "forecasting", "sequence_regression", "sequence_binclass", "sequence_multiclass"] as const

const Names = Schema.Array(Schema.String.pipe(Schema.minLength(1))).pipe(
  Schema.minItems(1, { message: () => "must list at least one name (or be null for the default)" }),
  Schema.filter((xs) => new Set(xs).size === xs.length || "must not repeat a name")
)

export const TrainerRequest = Schema.Struct({
  dataset_id: Schema.String.pipe(Schema.minLength(1, { message: () => "must name a dataset" })),
  filter: Schema.optional(Schema.NullOr(Filter)),
  task: Task,
  models: Schema.optional(Schema.NullOr(Names)),
  metrics: Schema.optional(Schema.NullOr(Names)),
  hpo: Schema.optional(Schema.NullOr(Schema.Literal("optuna", "random"))),
  n_trials: Schema.optional(Schema.Int.pipe(Schema.greaterThanOrEqualTo(1, { message: () => "must be at least 1" }))),
  cv_folds: Schema.optional(Schema.NullOr(Schema.Int.pipe(Schema.greaterThanOrEqualTo(2, { message: () => "must be at least 2 (null: a single holdout split)" })))),
  ensemble: Schema.optional(Schema.Boolean),
  grid_size: Schema.optional(Schema.NullOr(Schema.Number.pipe(
    Schema.greaterThan(0, { message: () => "must be in (0, 1]" }),
    Schema.lessThanOrEqualTo(1, { message: () => "must be in (0, 1]" }),
    Schema.filter((g) => Math.abs(1 / g - Math.round(1 / g)) < 1e-9 || "1/grid_size must be a whole number (e.g. 0.5, 0.25, 0.1)")
  ))),
  teacher_model_id: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.minLength(1)))),
  teacher_predict_url: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.minLength(1)))),
  teacher_headers: Schema.optional(Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.String }))),
  seed: Schema.optional(Schema.NullOr(Schema.Int.pipe(Schema.between(0, 2 ** 32 - 1, { message: () => "must be between 0 and 4294967295" }))))
}).annotations({ identifier: "TrainerRequest" })
export type TrainerRequest = typeof TrainerRequest.Type
