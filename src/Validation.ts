// Reading and validating JSON request bodies the way our users expect: every violation at once,
// each with a JSON Pointer; unknown fields refused with the closest known name; no coercion.
import type { HttpServerRequest } from "@effect/platform"
import { Effect, Either, ParseResult, Schema, Stream } from "effect"
import { BadRequest, FieldError, jsonPointer, PayloadTooLarge, Unprocessable, UnsupportedMediaType } from "./Domain/Problem.ts"

/** Edit distance, for suggesting the field a typo meant. */
export const levenshtein = (a: string, b: string): number => {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return row[b.length]!
}

/** The closest of `known` to `word`, when it is close enough to be a typo. */
export const closest = (word: string, known: ReadonlyArray<string>): string | undefined => {
  let best: string | undefined
  let bestDistance = Infinity
  for (const k of known) {
    const d = levenshtein(word.toLowerCase(), k.toLowerCase())
    if (d < bestDistance) [best, bestDistance] = [k, d]
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined
}

const unexpectedMessage = (key: string, message: string) => {
  const known = [...message.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!)
  const suggestion = closest(key, known)
  return suggestion !== undefined
    ? `is not a known field; did you mean "${suggestion}"?`
    : `is not a known field${known.length > 0 ? ` (known: ${known.join(", ")})` : ""}`
}

export interface Issue {
  readonly _tag?: string
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

/** Issues as field errors, most specific first, without the noise of optional wrappers, literal unions said once. */
export const refineIssues = (issues: ReadonlyArray<Issue>, prefix = ""): ReadonlyArray<FieldError> => {
  const pointer = (path: ReadonlyArray<PropertyKey>) => prefix + jsonPointer(path)
  const echo = (m: string) => /^Expected (undefined|null),/.test(m)
  const seen = new Set<string>()
  const out: Array<FieldError> = []
  for (const issue of issues) {
    const path = pointer(issue.path)
    // "Expected undefined/null" beside a more precise issue under the same path is an optional or nullable field's union echo.
    if (echo(issue.message) && issues.some((o) => o !== issue && !echo(o.message) && pointer(o.path).startsWith(path))) continue
    const message = issue._tag === "Unexpected"
      ? unexpectedMessage(String(issue.path[issue.path.length - 1] ?? ""), issue.message)
      : issue._tag === "Missing" ? "is required" : issue.message
    const key = `${path}\u0000${message}`
    if (seen.has(key)) continue
    seen.add(key)
    // A union of literals fails once per member: say it once, listing what was expected.
    const expected = /^Expected (.+), actual (.+)$/.exec(message)
    const previous = expected ? out.findIndex((e) => e.path === path && e.message.endsWith(`, actual ${expected[2]}`)) : -1
    if (expected && previous >= 0) {
      const before = /^Expected (.+), actual /.exec(out[previous]!.message)![1]
      out[previous] = new FieldError({ path, message: `Expected ${before} | ${expected[1]}, actual ${expected[2]}` })
      continue
    }
    out.push(new FieldError({ path, message }))
  }
  return out
}

/** A ParseError as field errors. */
export const fieldErrors = (error: ParseResult.ParseError, prefix = ""): ReadonlyArray<FieldError> =>
  refineIssues(ParseResult.ArrayFormatter.formatErrorSync(error), prefix)

export const summarize = (errors: ReadonlyArray<FieldError>) =>
  errors.map((e) => `${e.path || "/"}: ${e.message}`).join("; ")

/** Decodes with every issue reported and unknown properties refused. */
export const decodeStrict = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "error" })
  return (input: unknown): Effect.Effect<A, Unprocessable> =>
    Either.match(decode(input), {
      onLeft: (error) => {
        const errors = fieldErrors(error)
        return Effect.fail(Unprocessable.of(summarize(errors), errors))
      },
      onRight: Effect.succeed
    })
}

const isJson = (contentType: string) => {
  const base = contentType.split(";")[0]!.trim().toLowerCase()
  return base === "application/json" || base.endsWith("+json")
}

/** Reads a JSON body: 415 unless it says it is JSON, 413 past the limit, 400 when it does not parse. */
export const readJson = (request: HttpServerRequest.HttpServerRequest, maxBytes: number) =>
  Effect.gen(function*() {
    const contentType = request.headers["content-type"] ?? ""
    if (!isJson(contentType)) {
      return yield* UnsupportedMediaType.of(`send the body as application/json (got ${contentType ? JSON.stringify(contentType) : "no content-type"})`)
    }
    const tooLarge = PayloadTooLarge.of(`the JSON body exceeds MAX_JSON_BODY_BYTES (${maxBytes} bytes)`)
    if (Number(request.headers["content-length"] ?? "0") > maxBytes) return yield* tooLarge
    const chunks: Array<Uint8Array> = []
    let size = 0
    yield* request.stream.pipe(
      Stream.mapError(() => BadRequest.of("the request body was cut short")),
      Stream.runForEach((chunk) => {
        size += chunk.byteLength
        if (size > maxBytes) return Effect.fail(tooLarge)
        chunks.push(chunk)
        return Effect.void
      })
    )
    const text = Buffer.concat(chunks).toString("utf8")
    if (text.trim() === "") return yield* BadRequest.of("the request body is empty; send a JSON object")
    const parsed = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) => BadRequest.of(`the request body is not valid JSON: ${(e as Error).message}`)
    })
    const problem = shapeProblem(parsed)
    if (problem) return yield* Unprocessable.field(problem.path, problem.message)
    return parsed
  })

/** JSON nesting any request of ours could need, with room to spare. */
export const MAX_JSON_DEPTH = 64

/** A UTF-16 surrogate without its pair: not a character, and PostgreSQL refuses it. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/**
 * What no field of any request may hold, checked without recursion: nesting beyond MAX_JSON_DEPTH
 * (a deep tree would exhaust the stack of a recursive decoder), NUL characters and unpaired
 * surrogates (PostgreSQL text cannot store them), and numbers beyond a double (JSON.parse makes
 * them Infinity, which would be stored as null).
 */
export const shapeProblem = (value: unknown): { readonly path: string; readonly message: string } | undefined => {
  const stack: Array<readonly [unknown, string, number]> = [[value, "", 0]]
  while (stack.length > 0) {
    const [v, path, depth] = stack.pop()!
    if (typeof v === "string") {
      if (v.includes("\u0000")) return { path, message: "must not contain NUL characters" }
      if (LONE_SURROGATE.test(v)) return { path, message: "must be valid Unicode (it has an unpaired surrogate)" }
    } else if (typeof v === "number") {
      if (!Number.isFinite(v)) return { path, message: "is a number too large to represent" }
    } else if (typeof v === "object" && v !== null) {
      if (depth >= MAX_JSON_DEPTH) return { path, message: `nests deeper than ${MAX_JSON_DEPTH} levels` }
      for (const [k, child] of Array.isArray(v) ? v.entries() : Object.entries(v)) {
        if (typeof k === "string" && (k.includes("\u0000") || LONE_SURROGATE.test(k))) return { path, message: "has a key with a NUL character or an unpaired surrogate" }
        stack.push([child, `${path}/${String(k).replaceAll("~", "~0").replaceAll("/", "~1")}`, depth + 1])
      }
    }
  }
  return undefined
}

/** Replaces every occurrence of the given secrets in a text. */
export const scrub = (text: string, secrets: ReadonlyArray<string>) =>
  secrets.reduce((t, secret) => (secret.length > 0 ? t.split(secret).join("[redacted]") : t), text)

/** Every string value inside a value (the secrets a teacher_headers object may hold, whatever its shape). */
export const stringsIn = (value: unknown): Array<string> => {
  const out: Array<string> = []
  const stack: Array<unknown> = [value]
  while (stack.length > 0) {
    const v = stack.pop()
    if (typeof v === "string") out.push(v)
    else if (typeof v === "object" && v !== null) stack.push(...Object.values(v))
  }
  return out
}
