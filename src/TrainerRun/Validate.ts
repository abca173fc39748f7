// Stage 1, validate: decode the body with the request schema, then the rules that need only the
// request (cross-field rules, configured bounds, teacher URL and headers). Every violation at once.
import { Effect, Either, Schema } from "effect"
import type { Limits } from "../Config.ts"
import { FieldError, Unprocessable } from "../Domain/Problem.ts"
import { checkHeader, checkTeacherUrl } from "../Domain/TeacherUrl.ts"
import { type Filter, TrainerRequest } from "../Domain/Trainer.ts"
import { fieldErrors, scrub, stringsIn, summarize } from "../Validation.ts"

const decode = Schema.decodeUnknownEither(TrainerRequest, { errors: "all", onExcessProperty: "error" })

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x)
const present = (x: unknown) => x !== undefined && x !== null

/** Depth, size and list bounds of a filter tree (configuration). */
const filterBounds = (filter: unknown, limits: Limits, errors: Array<FieldError>) => {
  let count = 0
  const walk = (f: unknown, path: string, depth: number) => {
    if (!isObject(f)) return
    count++
    if (depth > limits.maxFilterDepth) {
      errors.push(new FieldError({ path, message: `nests deeper than MAX_FILTER_DEPTH (${limits.maxFilterDepth})` }))
      return
    }
    if (f.type === "bool" && Array.isArray(f.args)) f.args.forEach((a, i) => walk(a, `${path}/args/${i}`, depth + 1))
    if (f.type === "not") walk(f.arg, `${path}/arg`, depth + 1)
    if (f.type === "comparison" && Array.isArray(f.value) && f.value.length > limits.maxFilterList) {
      errors.push(new FieldError({ path: `${path}/value`, message: `lists ${f.value.length} values; MAX_FILTER_LIST is ${limits.maxFilterList}` }))
    }
  }
  walk(filter, "/filter", 1)
  if (count > limits.maxFilterNodes) {
    errors.push(new FieldError({ path: "/filter", message: `has ${count} nodes; MAX_FILTER_NODES is ${limits.maxFilterNodes}` }))
  }
}

/** Rules across fields and against configuration, checked on whatever parts of the body are well-formed. */
export const requestRules = (body: unknown, limits: Limits, allowlist: ReadonlyArray<string>): Array<FieldError> => {
  const errors: Array<FieldError> = []
  if (!isObject(body)) return errors
  const err = (path: string, message: string) => errors.push(new FieldError({ path, message }))
  const metricCount = Array.isArray(body.metrics) ? body.metrics.length : 1
  if (present(body.grid_size) && metricCount < 2) err("/grid_size", "needs two or more metrics: a Pareto sweep trades metrics off")
  if (present(body.teacher_model_id) && present(body.teacher_predict_url)) {
    err("/teacher_predict_url", "is mutually exclusive with teacher_model_id: distil from one teacher")
  }
  if (present(body.teacher_headers) && !present(body.teacher_predict_url)) err("/teacher_headers", "only applies with teacher_predict_url")
  if (typeof body.n_trials === "number" && body.n_trials > limits.maxTrials) err("/n_trials", `is above MAX_TRIALS (${limits.maxTrials})`)
  if (typeof body.cv_folds === "number" && body.cv_folds > limits.maxCvFolds) err("/cv_folds", `is above MAX_CV_FOLDS (${limits.maxCvFolds})`)
  if (present(body.filter)) filterBounds(body.filter, limits, errors)
  if (typeof body.teacher_predict_url === "string") {
    const verdict = checkTeacherUrl(body.teacher_predict_url, allowlist)
    if (!verdict.ok) err("/teacher_predict_url", verdict.reason)
  }
  if (isObject(body.teacher_headers)) {
    const entries = Object.entries(body.teacher_headers)
    if (entries.length > 32) err("/teacher_headers", "may hold at most 32 headers")
    for (const [name, value] of entries) {
      const problem = typeof value === "string" ? checkHeader(name, value) : undefined
      if (problem) err(`/teacher_headers/${name.replaceAll("~", "~0").replaceAll("/", "~1")}`, problem)
    }
  }
  return errors
}

export const validate = (body: unknown, limits: Limits, allowlist: ReadonlyArray<string>) => {
  const decoded = decode(body)
  const errors = [...(Either.isLeft(decoded) ? fieldErrors(decoded.left) : []), ...requestRules(body, limits, allowlist)]
  if (errors.length > 0 || Either.isLeft(decoded)) {
    // An error message may quote what it got: never let it quote a teacher header value.
    const secrets = isObject(body) ? stringsIn(body.teacher_headers).filter((s) => s.length >= 3) : []
    const safe = errors.map((e) => new FieldError({ path: e.path, message: scrub(e.message, secrets) }))
    return Effect.fail(Unprocessable.of(summarize(safe), safe))
  }
  return Effect.succeed(decoded.right)
}

export const filterColumns = (f: Filter): Array<string> =>
  f.type === "comparison" ? [f.col] : f.type === "bool" ? f.args.flatMap(filterColumns) : filterColumns(f.arg)
