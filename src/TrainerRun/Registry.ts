// The model families and metrics the service knows (§4.3), and the documented defaults.
import { Schema } from "effect"
import type { TaskType } from "../Domain/Trainer.ts"

export const ParamKind = Schema.Literal("int", "float", "log-float", "categorical")

export class SearchDim extends Schema.Class<SearchDim>("SearchDim")({
  name: Schema.String,
  kind: ParamKind,
  low: Schema.optional(Schema.Number),
  high: Schema.optional(Schema.Number),
  choices: Schema.optional(Schema.Array(Schema.Union(Schema.String, Schema.Number, Schema.Boolean)))
}) {}

export class FamilyLimits extends Schema.Class<FamilyLimits>("FamilyLimits")({
  max_rows: Schema.Int,
  max_features: Schema.Int,
  max_classes: Schema.Int
}) {}

export class ModelFamily extends Schema.Class<ModelFamily>("ModelFamily")({
  id: Schema.String,
  description: Schema.String,
  tasks: Schema.Array(Schema.String),
  limits: FamilyLimits,
  search_space: Schema.Array(SearchDim),
  defaults: Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number, Schema.Boolean) }),
  requires: Schema.String
}) {}

const dim = (name: string, kind: typeof ParamKind.Type, lowOrChoices: number | ReadonlyArray<string | number | boolean>, high?: number) =>
  new SearchDim(Array.isArray(lowOrChoices) ? { name, kind, choices: lowOrChoices } : { name, kind, low: lowOrChoices as number, high: high! })

const ALL_TASKS: ReadonlyArray<TaskType> = ["regression", "binclass", "multiclass", "forecasting", "sequence_regression", "sequence_binclass", "sequence_multiclass"]

export const families: ReadonlyArray<ModelFamily> = [
  new ModelFamily({
    id: "xgboost",
    description: "Gradient-boosted trees (XGBoost): strong on any size, the fallback for very large data.",
    tasks: ALL_TASKS,
    limits: new FamilyLimits({ max_rows: 100_000_000, max_features: 10_000, max_classes: 1_000 }),
    search_space: [
      dim("n_estimators", "int", 50, 2000),
      dim("max_depth", "int", 2, 12),
      dim("learning_rate", "log-float", 0.001, 0.3),
      dim("subsample", "float", 0.5, 1),
      dim("colsample_bytree", "float", 0.3, 1),
      dim("min_child_weight", "log-float", 0.01, 100),
      dim("reg_lambda", "log-float", 0.001, 100)
    ],
    defaults: { n_estimators: 500, max_depth: 6, learning_rate: 0.05, subsample: 0.8, colsample_bytree: 0.8, min_child_weight: 1, reg_lambda: 1 },
    requires: "fit:xgboost"
  }),
  new ModelFamily({
    id: "tabm",
    description: "TabM: a parameter-efficient ensemble of MLPs for tabular data.",
    tasks: ["regression", "binclass", "multiclass", "sequence_regression", "sequence_binclass", "sequence_multiclass"],
    limits: new FamilyLimits({ max_rows: 10_000_000, max_features: 2_000, max_classes: 100 }),
    search_space: [
      dim("k", "categorical", [8, 16, 32]),
      dim("n_blocks", "int", 1, 4),
      dim("d_block", "int", 64, 1024),
      dim("dropout", "float", 0, 0.5),
      dim("lr", "log-float", 0.0001, 0.003),
      dim("weight_decay", "log-float", 0.000001, 0.001)
    ],
    defaults: { k: 32, n_blocks: 3, d_block: 512, dropout: 0.1, lr: 0.002, weight_decay: 0.0003 },
    requires: "fit:tabm"
  }),
  new ModelFamily({
    id: "xrfm",
    description: "xRFM: recursive feature machines with tree-partitioned kernels.",
    tasks: ["regression", "binclass", "multiclass"],
    limits: new FamilyLimits({ max_rows: 1_000_000, max_features: 1_000, max_classes: 50 }),
    search_space: [
      dim("bandwidth", "log-float", 0.1, 100),
      dim("reg", "log-float", 0.000001, 1),
      dim("iters", "int", 1, 5),
      dim("kernel", "categorical", ["laplace", "l2", "product_laplace"])
    ],
    defaults: { bandwidth: 10, reg: 0.001, iters: 3, kernel: "laplace" },
    requires: "fit:xrfm"
  }),
  new ModelFamily({
    id: "tabicl",
    description: "TabICL: a pretrained in-context learner for tabular classification (small data).",
    tasks: ["binclass", "multiclass"],
    limits: new FamilyLimits({ max_rows: 100_000, max_features: 500, max_classes: 10 }),
    search_space: [
      dim("n_estimators", "int", 1, 32),
      dim("softmax_temperature", "float", 0.5, 1.5),
      dim("norm_methods", "categorical", ["none", "power", "quantile"])
    ],
    defaults: { n_estimators: 8, softmax_temperature: 0.9, norm_methods: "power" },
    requires: "fit:tabicl"
  })
]

export const familyById = new Map(families.map((f) => [f.id, f]))

export class Metric extends Schema.Class<Metric>("Metric")({
  name: Schema.String,
  direction: Schema.Literal("maximize", "minimize"),
  tasks: Schema.Array(Schema.String),
  description: Schema.String
}) {}

const REGRESSION: ReadonlyArray<TaskType> = ["regression", "forecasting", "sequence_regression"]
const BINARY: ReadonlyArray<TaskType> = ["binclass", "sequence_binclass"]
const MULTI: ReadonlyArray<TaskType> = ["multiclass", "sequence_multiclass"]
const CLASSIFICATION = [...BINARY, ...MULTI]

const metric = (name: string, direction: "maximize" | "minimize", tasks: ReadonlyArray<TaskType>, description: string) =>
  new Metric({ name, direction, tasks, description })

export const metrics: ReadonlyArray<Metric> = [
  metric("rmse", "minimize", REGRESSION, "root mean squared error"),
  metric("mae", "minimize", REGRESSION, "mean absolute error"),
  metric("r2", "maximize", REGRESSION, "coefficient of determination"),
  metric("neg_rmse", "maximize", REGRESSION, "negated RMSE"),
  metric("neg_mae", "maximize", REGRESSION, "negated MAE"),
  metric("mape", "minimize", ["regression", "forecasting"], "mean absolute percentage error"),
  metric("smape", "minimize", ["forecasting"], "symmetric MAPE"),
  metric("mase", "minimize", ["forecasting"], "mean absolute scaled error (against the seasonal naive forecast)"),
  metric("auc", "maximize", BINARY, "area under the ROC curve"),
  metric("f1", "maximize", BINARY, "F1 of the positive class"),
  metric("brier", "minimize", BINARY, "Brier score"),
  metric("auc_ovr", "maximize", MULTI, "one-vs-rest macro ROC AUC"),
  metric("macro_f1", "maximize", MULTI, "macro-averaged F1"),
  metric("accuracy", "maximize", CLASSIFICATION, "share of correct labels"),
  metric("logloss", "minimize", CLASSIFICATION, "log loss (cross-entropy)"),
  metric("neg_class_error", "maximize", CLASSIFICATION, "negated classification error (accuracy − 1)")
]

export const metricByName = new Map(metrics.map((m) => [m.name, m]))

/** The metric optimised when a request names none. */
export const defaultMetric: Record<TaskType, string> = {
  regression: "rmse",
  binclass: "auc",
  multiclass: "logloss",
  forecasting: "mase",
  sequence_regression: "rmse",
  sequence_binclass: "auc",
  sequence_multiclass: "logloss"
}

export const familiesFor = (task: TaskType) => families.filter((f) => f.tasks.includes(task))
export const metricsFor = (task: TaskType) => metrics.filter((m) => m.tasks.includes(task))

/** Above this many rows the default set is XGBoost alone: the others would dominate the run's cost. */
export const LARGE_DATA_ROWS = 1_000_000

/**
 * The default families for a task and a dataset's shape — a pure, documented function:
 * above LARGE_DATA_ROWS rows, XGBoost alone; otherwise every family that supports the task
 * and whose limits admit the rows, the feature columns and (for classification) the classes,
 * in registry order (xgboost, tabm, xrfm, tabicl).
 */
export const defaultFamilies = (task: TaskType, rows: number, features: number, classes = 0): ReadonlyArray<string> => {
  const fits = familiesFor(task).filter((f) =>
    rows <= f.limits.max_rows && features <= f.limits.max_features && classes <= f.limits.max_classes
  )
  if (rows > LARGE_DATA_ROWS) return fits.some((f) => f.id === "xgboost") ? ["xgboost"] : fits.slice(0, 1).map((f) => f.id)
  return fits.map((f) => f.id)
}

/** Optuna's sequential search pays off with enough trials; below that, seeded random search. */
export const OPTUNA_MIN_TRIALS = 16
export const defaultHpo = (nTrials: number): "optuna" | "random" => (nTrials >= OPTUNA_MIN_TRIALS ? "optuna" : "random")
