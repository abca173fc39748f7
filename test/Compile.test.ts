import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { binomial, compile, compositions, type Graph, nodeCount, type ResolvedTrainer, validateGraph } from "../src/TrainerRun/Compile.ts"
import { canonicalJson } from "../src/TrainerRun/Upload.ts"
import { defaultFamilies, defaultHpo } from "../src/TrainerRun/Registry.ts"

const base: ResolvedTrainer = {
  task: { type: "multiclass", target: "weather", features: ["precipitation", "wind"] },
  dataset: {
    dataset_id: "ds_x", name: "w", uri: "file:///x.csv", sha256: "ab", format: "csv", rows: 1461,
    schema: [{ name: "weather", dtype: "string" }], target: "weather", features: ["precipitation", "wind"], filter: null
  },
  models: ["xgboost", "tabm"],
  metrics: ["logloss"],
  hpo: "random",
  n_trials: 3,
  cv_folds: 5,
  ensemble: false,
  grid_size: null,
  teacher: null,
  seed: 42
}

const graphOf = (t: ResolvedTrainer, max = 100_000): Graph => Either.getOrThrow(compile(t, max))
const kinds = (g: Graph) => g.nodes.reduce<Record<string, number>>((acc, n) => ({ ...acc, [n.kind]: (acc[n.kind] ?? 0) + 1 }), {})

describe("compiler", () => {
  it("fits = families × trials × folds, then select and refit per family, then finalize", () => {
    const g = graphOf(base)
    expect(kinds(g)).toEqual({ prepare: 1, fit: 2 * 3 * 5, select: 2, refit: 2, finalize: 1 })
    expect(g.nodes.length).toBe(nodeCount(base))
    const finalize = g.nodes.find((n) => n.kind === "finalize")!
    expect(finalize.deps).toEqual(["refit.xgboost", "refit.tabm"])
    expect(g.nodes.find((n) => n.key === "select.tabm")!.deps).toHaveLength(15)
  })

  it("the prepare node carries the dataset, the filter, the task's target and features, and the seed", () => {
    const filter = { type: "comparison" as const, col: "wind", op: "ge" as const, value: 2 }
    const g = graphOf({ ...base, dataset: { ...base.dataset, filter } })
    expect(g.nodes[0]!.params).toMatchObject({
      dataset: { uri: "file:///x.csv", sha256: "ab", format: "csv" },
      filter,
      target: "weather",
      features: ["precipitation", "wind"],
      seed: 42
    })
  })

  it("a null cv_folds is one seeded holdout split", () => {
    const g = graphOf({ ...base, cv_folds: null })
    expect(kinds(g).fit).toBe(2 * 3)
    expect((g.nodes[0]!.params.folds as any)).toEqual({ strategy: "stratified_holdout", count: 1, holdout_fraction: 0.2 })
  })

  it("chooses the fold strategy from the task", () => {
    const strategy = (task: ResolvedTrainer["task"], cv: number | null) => (graphOf({ ...base, task, cv_folds: cv }).nodes[0]!.params.folds as any).strategy
    expect(strategy({ type: "regression", target: "y" }, 4)).toBe("kfold")
    expect(strategy({ type: "binclass", target: "y" }, 4)).toBe("stratified_kfold")
    expect(strategy({ type: "forecasting", target: "y", time_col: "t", horizon: 7 }, 4)).toBe("time_backtest")
    expect(strategy({ type: "sequence_binclass", target: "y", sequence_id: "s", order_by: "o" }, 4)).toBe("grouped_kfold")
    expect(strategy({ type: "sequence_regression", target: "y", sequence_id: "s", order_by: "o" }, null)).toBe("grouped_holdout")
  })

  it("random search samples every trial at compile time from the seed; same seed, same bytes", () => {
    const a = canonicalJson(graphOf(base))
    const b = canonicalJson(graphOf({ ...base }))
    expect(a).toBe(b)
    const other = canonicalJson(graphOf({ ...base, seed: 43 }))
    expect(other).not.toBe(a)
    const fit = graphOf(base).nodes.find((n) => n.key === "fit.xgboost.t2.f0")!
    const sameTrialOtherFold = graphOf(base).nodes.find((n) => n.key === "fit.xgboost.t2.f4")!
    expect(fit.params.hyperparameters).toEqual(sameTrialOtherFold.params.hyperparameters)
    const hp = fit.params.hyperparameters as Record<string, number>
    expect(hp.max_depth).toBeGreaterThanOrEqual(2)
    expect(hp.max_depth).toBeLessThanOrEqual(12)
    expect(hp.learning_rate).toBeGreaterThanOrEqual(0.001)
    expect(hp.learning_rate).toBeLessThanOrEqual(0.3)
  })

  it("optuna trials are bound to the family's study and take their parameters when they start", () => {
    const g = graphOf({ ...base, hpo: "optuna" })
    const fit = g.nodes.find((n) => n.kind === "fit")!
    expect(fit.params).toMatchObject({ hpo: "optuna", study: "optuna/xgboost", sampler_seed: 42 })
    expect(fit.params.hyperparameters).toBeUndefined()
  })

  it("ensemble replaces the refits with one Caruana node over every stage-1 model", () => {
    const g = graphOf({ ...base, ensemble: true })
    expect(kinds(g)).toEqual({ prepare: 1, fit: 30, select: 2, ensemble: 1, finalize: 1 })
    const ensemble = g.nodes.find((n) => n.kind === "ensemble")!
    expect(ensemble.deps).toHaveLength(30)
    expect(ensemble.params).toMatchObject({ method: "caruana", with_replacement: true })
  })

  it("every node leads to finalize, so a job cannot end with work still to run", () => {
    for (const t of [base, { ...base, ensemble: true }, { ...base, ensemble: true, metrics: ["logloss", "accuracy"], grid_size: 0.25 }, { ...base, metrics: ["logloss", "accuracy"], grid_size: 0.5 }]) {
      const g = graphOf(t)
      const needed = new Set(g.nodes.flatMap((n) => n.deps))
      expect(g.nodes.filter((n) => n.kind !== "finalize" && !needed.has(n.key)).map((n) => n.key)).toEqual([])
    }
  })

  it("a Pareto sweep has C(1/g + m − 1, m − 1) points from integer compositions, then pareto", () => {
    for (const [m, g] of [[2, 0.5], [2, 0.1], [3, 0.25], [4, 0.2]] as const) {
      const metrics = ["logloss", "accuracy", "macro_f1", "neg_class_error"].slice(0, m)
      const t = { ...base, metrics, grid_size: g }
      const graph = graphOf(t)
      const points = graph.nodes.filter((n) => n.kind === "sweep_point")
      expect(points).toHaveLength(binomial(Math.round(1 / g) + m - 1, m - 1))
      expect(graph.nodes.filter((n) => n.kind === "pareto")).toHaveLength(1)
      for (const p of points) {
        const parts = p.params.parts as Array<number>
        expect(parts.reduce((a, b) => a + b, 0)).toBe(Math.round(1 / g))
        expect(parts.every(Number.isInteger)).toBe(true)
      }
      expect(graph.nodes.length).toBe(nodeCount(t))
    }
    expect(compositions(2, 2)).toEqual([[2, 0], [1, 1], [0, 2]])
    const w = graphOf({ ...base, metrics: ["logloss", "accuracy", "macro_f1"], grid_size: 0.1 }).nodes.find((n) => n.kind === "sweep_point" && (n.params.parts as any).join() === "7,2,1")!
    expect(w.params.weights).toEqual({ logloss: 0.7, accuracy: 0.2, macro_f1: 0.1 })
  })

  it("a teacher adds synth → teacher_predict before the fits", () => {
    const g = graphOf({ ...base, teacher: { kind: "url", url: "https://teacher.example.com/predict", header_names: ["Authorization"] } })
    expect(kinds(g)).toMatchObject({ synth: 1, teacher_predict: 1 })
    expect(g.nodes.find((n) => n.kind === "teacher_predict")!.requires).toBe("teacher_predict:external")
    expect(g.nodes.filter((n) => n.kind === "fit").every((n) => n.deps[0] === "teacher_predict")).toBe(true)
  })

  it("refuses a graph over the limit with its count, before building it", () => {
    const big = { ...base, n_trials: 500, cv_folds: 20 }
    const result = compile(big, 20_000)
    expect(Either.isLeft(result) && result.left._tag === "GraphTooLarge" && result.left.count).toBe(nodeCount(big))
  })

  it("finds missing dependencies and cycles", () => {
    expect(Either.isLeft(validateGraph([{ key: "a", kind: "fit", requires: "x", params: {}, deps: ["b"] }]))).toBe(true)
    expect(Either.isLeft(validateGraph([
      { key: "a", kind: "fit", requires: "x", params: {}, deps: ["b"] },
      { key: "b", kind: "fit", requires: "x", params: {}, deps: ["a"] }
    ]))).toBe(true)
  })
})

describe("registry defaults", () => {
  it("default families follow the documented function of task and shape", () => {
    expect(defaultFamilies("multiclass", 1461, 5, 5)).toEqual(["xgboost", "tabm", "xrfm", "tabicl"])
    expect(defaultFamilies("multiclass", 200_000, 5, 5)).toEqual(["xgboost", "tabm", "xrfm"])
    expect(defaultFamilies("regression", 5_000_000, 5)).toEqual(["xgboost"])
    expect(defaultFamilies("forecasting", 1000, 3)).toEqual(["xgboost"])
    expect(defaultFamilies("binclass", 1000, 1500, 2)).toEqual(["xgboost", "tabm"])
  })
  it("hpo defaults to optuna with enough trials", () => {
    expect(defaultHpo(8)).toBe("random")
    expect(defaultHpo(16)).toBe("optuna")
  })
})
