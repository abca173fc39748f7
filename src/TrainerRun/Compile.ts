// The compiler (§6): a pure, deterministic function from the resolved trainer to the computation
// graph. Same resolved trainer (same seed) ⇒ byte-identical graph.
import { Data, Either } from "effect"
import type { Dtype } from "../Domain/Dataset.ts"
import type { Filter, Task } from "../Domain/Trainer.ts"
import { familyById, metricByName, type SearchDim } from "./Registry.ts"

export interface DatasetSpec {
  readonly dataset_id: string
  readonly name: string
  readonly uri: string
  readonly sha256: string
  readonly format: string
  readonly rows: number
  readonly schema: ReadonlyArray<{ readonly name: string; readonly dtype: Dtype }>
  readonly target: string
  readonly features: ReadonlyArray<string>
  readonly filter: Filter | null
}

export type Teacher =
  | { readonly kind: "model"; readonly model_id: string }
  | { readonly kind: "url"; readonly url: string; readonly header_names: ReadonlyArray<string> }

export interface ResolvedTrainer {
  readonly task: Task
  readonly dataset: DatasetSpec
  readonly models: ReadonlyArray<string>
  readonly metrics: ReadonlyArray<string>
  readonly hpo: "optuna" | "random"
  readonly n_trials: number
  readonly cv_folds: number | null
  readonly ensemble: boolean
  readonly grid_size: number | null
  readonly teacher: Teacher | null
  readonly seed: number
}

export type NodeKind = "prepare" | "synth" | "teacher_predict" | "fit" | "select" | "refit" | "ensemble" | "sweep_point" | "pareto" | "finalize"

export interface GraphNode {
  /** Deterministic within the job: kind and coordinates. The node id is `<job_id>.<key>`. */
  readonly key: string
  readonly kind: NodeKind
  readonly requires: string
  readonly params: Readonly<Record<string, unknown>>
  readonly deps: ReadonlyArray<string>
}

export interface Graph {
  readonly version: 1
  readonly nodes: ReadonlyArray<GraphNode>
}

export class GraphTooLarge extends Data.TaggedError("GraphTooLarge")<{ readonly count: number; readonly limit: number }> {}
export class GraphInvalid extends Data.TaggedError("GraphInvalid")<{ readonly reason: string }> {}

/** n choose k, exact for the sizes we allow. */
export const binomial = (n: number, k: number): number => {
  let r = 1
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i
  return Math.round(r)
}

/** Every way to split `total` steps among `parts` metrics (weak compositions), in lexicographic order. */
export const compositions = (total: number, parts: number): Array<Array<number>> => {
  if (parts === 1) return [[total]]
  const out: Array<Array<number>> = []
  for (let first = total; first >= 0; first--) {
    for (const rest of compositions(total - first, parts - 1)) out.push([first, ...rest])
  }
  return out
}

export const foldCount = (t: Pick<ResolvedTrainer, "cv_folds">) => t.cv_folds ?? 1
const sweeps = (t: Pick<ResolvedTrainer, "metrics" | "grid_size">) => t.metrics.length >= 2 && t.grid_size !== null

/** How many nodes the graph will have, without building it (so an oversized request costs nothing). */
export const nodeCount = (t: Pick<ResolvedTrainer, "models" | "n_trials" | "cv_folds" | "ensemble" | "metrics" | "grid_size" | "teacher">) => {
  const families = t.models.length
  const fits = families * t.n_trials * foldCount(t)
  const sweepPoints = sweeps(t) ? binomial(Math.round(1 / t.grid_size!) + t.metrics.length - 1, t.metrics.length - 1) : 0
  return 1 + (t.teacher ? 2 : 0) + fits + families + (t.ensemble ? 1 : families) + sweepPoints + (sweepPoints > 0 ? 1 : 0) + 1
}

/** A small, seeded PRNG (mulberry32): the same seed gives the same numbers on every platform. */
const prng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const hashString = (s: string) => {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return h >>> 0
}

const round6 = (x: number) => Number(x.toPrecision(6))

/** One trial's hyper-parameters, sampled from the family's space with a stream seeded by (seed, family, trial). */
export const sampleTrial = (space: ReadonlyArray<SearchDim>, seed: number, family: string, trial: number) => {
  const next = prng((seed ^ hashString(`${family}/${trial}`)) >>> 0)
  const params: Record<string, string | number | boolean> = {}
  for (const d of space) {
    const u = next()
    switch (d.kind) {
      case "int": params[d.name] = d.low! + Math.floor(u * (d.high! - d.low! + 1)); break
      case "float": params[d.name] = round6(d.low! + u * (d.high! - d.low!)); break
      case "log-float": params[d.name] = round6(Math.exp(Math.log(d.low!) + u * (Math.log(d.high!) - Math.log(d.low!)))); break
      case "categorical": params[d.name] = d.choices![Math.floor(u * d.choices!.length)]!; break
    }
  }
  return params
}

const foldStrategy = (t: ResolvedTrainer) => {
  const holdout = t.cv_folds === null
  switch (t.task.type) {
    case "binclass":
    case "multiclass": return holdout ? "stratified_holdout" : "stratified_kfold"
    case "forecasting": return holdout ? "time_holdout" : "time_backtest"
    case "sequence_regression":
    case "sequence_binclass":
    case "sequence_multiclass": return holdout ? "grouped_holdout" : "grouped_kfold"
    case "regression": return holdout ? "holdout" : "kfold"
  }
}

/** Checks every dependency exists and the graph has no cycle (Kahn's algorithm). */
export const validateGraph = (nodes: ReadonlyArray<GraphNode>): Either.Either<void, GraphInvalid> => {
  const index = new Map(nodes.map((n, i) => [n.key, i]))
  if (index.size !== nodes.length) return Either.left(new GraphInvalid({ reason: "duplicate node key" }))
  const indegree = nodes.map((n) => n.deps.length)
  const dependents: Array<Array<number>> = nodes.map(() => [])
  for (const [i, n] of nodes.entries()) {
    for (const d of n.deps) {
      const j = index.get(d)
      if (j === undefined) return Either.left(new GraphInvalid({ reason: `${n.key} depends on missing ${d}` }))
      dependents[j]!.push(i)
    }
  }
  const queue = indegree.flatMap((d, i) => (d === 0 ? [i] : []))
  let seen = 0
  while (queue.length > 0) {
    const i = queue.pop()!
    seen++
    for (const j of dependents[i]!) if (--indegree[j]! === 0) queue.push(j)
  }
  return seen === nodes.length ? Either.right(undefined) : Either.left(new GraphInvalid({ reason: "the graph has a cycle" }))
}

export const compile = (t: ResolvedTrainer, maxNodes: number): Either.Either<Graph, GraphTooLarge | GraphInvalid> => {
  const count = nodeCount(t)
  if (count > maxNodes) return Either.left(new GraphTooLarge({ count, limit: maxNodes }))
  const nodes: Array<GraphNode> = []
  const add = (key: string, kind: NodeKind, requires: string, params: Record<string, unknown>, deps: ReadonlyArray<string>) => {
    nodes.push({ key, kind, requires, params, deps })
    return key
  }
  const folds = foldCount(t)
  const objective = t.metrics[0]!
  const direction = (m: string) => metricByName.get(m)!.direction

  let stage1Root = add("prepare", "prepare", "prepare", {
    dataset: { uri: t.dataset.uri, sha256: t.dataset.sha256, format: t.dataset.format },
    filter: t.dataset.filter,
    task: t.task,
    target: t.dataset.target,
    features: t.dataset.features,
    folds: { strategy: foldStrategy(t), count: folds, ...(t.cv_folds === null ? { holdout_fraction: 0.2 } : {}) },
    seed: t.seed
  }, [])

  if (t.teacher !== null) {
    const synth = add("synth", "synth", "synth", { seed: t.seed }, [stage1Root])
    stage1Root = add("teacher_predict", "teacher_predict", t.teacher.kind === "url" ? "teacher_predict:external" : "teacher_predict", {
      teacher: t.teacher.kind === "url" ? { kind: "url", url: t.teacher.url, header_names: t.teacher.header_names } : t.teacher
    }, [synth])
  }

  const fitsByFamily = new Map<string, Array<string>>()
  for (const family of t.models) {
    const spec = familyById.get(family)!
    const keys: Array<string> = []
    for (let trial = 0; trial < t.n_trials; trial++) {
      const trialParams = t.hpo === "random"
        ? { hyperparameters: trial === 0 ? spec.defaults : sampleTrial(spec.search_space, t.seed, family, trial) }
        : { study: `optuna/${family}`, sampler_seed: t.seed }
      for (let fold = 0; fold < folds; fold++) {
        keys.push(add(`fit.${family}.t${trial}.f${fold}`, "fit", spec.requires, {
          family, trial, fold, hpo: t.hpo, ...trialParams, objective, metrics: t.metrics
        }, [stage1Root]))
      }
    }
    fitsByFamily.set(family, keys)
  }
  const allFits = [...fitsByFamily.values()].flat()

  const stage2: Array<string> = []
  for (const [family, fits] of fitsByFamily) {
    const select = add(`select.${family}`, "select", "select", { family, objective, direction: direction(objective), metrics: t.metrics }, fits)
    // With an ensemble no refit follows the selection: finalize waits for it directly (its
    // per-family best goes on the leaderboard), so a job never ends with a select still to run.
    stage2.push(t.ensemble ? select : add(`refit.${family}`, "refit", familyById.get(family)!.requires, { family, from: select }, [select]))
  }
  if (t.ensemble) {
    stage2.push(add("ensemble", "ensemble", "ensemble", {
      method: "caruana", with_replacement: true, objective, direction: direction(objective), metrics: t.metrics, seed: t.seed
    }, allFits))
  }

  if (sweeps(t)) {
    const steps = Math.round(1 / t.grid_size!)
    const points = compositions(steps, t.metrics.length).map((parts, i) =>
      add(`sweep_point.${i}`, "sweep_point", t.ensemble ? "ensemble" : "select", {
        parts,
        steps,
        weights: Object.fromEntries(t.metrics.map((m, j) => [m, parts[j]! / steps])),
        directions: Object.fromEntries(t.metrics.map((m) => [m, direction(m)])),
        mode: t.ensemble ? "ensemble" : "select"
      }, allFits)
    )
    stage2.push(add("pareto", "pareto", "pareto", { metrics: t.metrics }, points))
  }

  add("finalize", "finalize", "finalize", { objective, metrics: t.metrics, leaderboard: true }, stage2)
  return Either.map(validateGraph(nodes), () => ({ version: 1 as const, nodes }))
}

export const summarize = (graph: Graph) => {
  const by_kind: Record<string, number> = {}
  for (const n of graph.nodes) by_kind[n.kind] = (by_kind[n.kind] ?? 0) + 1
  return { total: graph.nodes.length, by_kind }
}
